// Multiply-adds per image by walking the module tree with the activation's shape (see flops.h).
#include "cvtrain/nn/flops.h"

#include "cvtrain/nn/fractional_pool.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/resnet.h"

namespace cvtrain::nn {

namespace {

int64_t out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

Shape walk(Module& m, Shape s, int64_t& macs) {
  if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
    CHECK(s.size() == 3, "multiply_adds: Conv2d needs a (C,H,W) input, got ", s.size(), " dims");
    const Shape& w = conv->weight.shape();  // (OC, C/groups, K, K)
    const Conv2dOptions& o = conv->options();
    const int64_t k = o.kernel_size(), st = o.stride(), pad = o.padding(), dil = o.dilation();
    Shape out{w[0], out_size(s[1], k, st, pad, dil), out_size(s[2], k, st, pad, dil)};
    macs += out[0] * out[1] * out[2] * w[1] * w[2] * w[3];
    return out;
  }
  if (auto* fc = dynamic_cast<Linear*>(&m)) {
    macs += fc->weight.numel();
    return {fc->weight.shape()[0]};
  }
  if (auto* pool = dynamic_cast<MaxPool2d*>(&m)) {
    const int64_t k = pool->kernel_size(), st = pool->stride(), pad = pool->padding();
    return {s[0], out_size(s[1], k, st, pad, 1), out_size(s[2], k, st, pad, 1)};
  }
  if (auto* fmp = dynamic_cast<FractionalMaxPool2d*>(&m)) return {s[0], fmp->out_size(s[1]), fmp->out_size(s[2])};
  if (dynamic_cast<Flatten*>(&m)) return {shape_numel(s)};
  if (dynamic_cast<GlobalAvgPool*>(&m)) return {s[0]};
  if (auto* block = dynamic_cast<BasicBlock*>(&m)) {
    Shape y = walk(*block->c2, walk(*block->c1, s, macs), macs);
    if (block->sc) walk(*block->sc, s, macs);
    return y;
  }
  if (auto* block = dynamic_cast<Bottleneck*>(&m)) {
    Shape y = walk(*block->conv3, walk(*block->conv2, walk(*block->conv1, s, macs), macs), macs);
    if (block->downsample) walk(*block->downsample, s, macs);
    return y;
  }
  if (auto* block = dynamic_cast<PreActBlock*>(&m)) {
    Shape y = walk(*block->conv2, walk(*block->conv1, s, macs), macs);
    if (block->sc) walk(*block->sc, s, macs);
    return y;
  }
  for (const auto& [name, child] : m.children()) s = walk(*child, s, macs);
  return s;
}

}  // namespace

int64_t multiply_adds(Module& model, const Shape& input) {
  int64_t macs = 0;
  walk(model, input, macs);
  return macs;
}

}  // namespace cvtrain::nn
