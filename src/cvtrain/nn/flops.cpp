// Multiply-adds per image by walking the module tree with the activation's shape (see flops.h).
#include "cvtrain/nn/flops.h"

#include <string>

#include "cvtrain/nn/fractional_pool.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/resnet.h"

namespace cvtrain::nn {

namespace {

// A layer's hyperparameter from its PyTorch-style repr: "stride=(2, 2)" or "stride=2"; `fallback`
// where the repr leaves a default out (Conv2d omits padding 0, dilation 1, groups 1).
int64_t repr_value(const std::string& repr, const std::string& key, int64_t fallback) {
  size_t at = repr.find(key + "=");
  if (at == std::string::npos) return fallback;
  at += key.size() + 1;
  if (repr[at] == '(') ++at;
  return std::stoll(repr.substr(at));
}

int64_t out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

Shape walk(Module& m, Shape s, int64_t& macs) {
  if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
    CHECK(s.size() == 3, "multiply_adds: Conv2d needs a (C,H,W) input, got ", s.size(), " dims");
    const Shape& w = conv->weight.shape();  // (OC, C/groups, K, K)
    std::string r = conv->describe();
    int64_t k = w[2], st = repr_value(r, "stride", 1), pad = repr_value(r, "padding", 0);
    int64_t dil = repr_value(r, "dilation", 1);
    Shape out{w[0], out_size(s[1], k, st, pad, dil), out_size(s[2], k, st, pad, dil)};
    macs += out[0] * out[1] * out[2] * w[1] * w[2] * w[3];
    return out;
  }
  if (auto* fc = dynamic_cast<Linear*>(&m)) {
    macs += fc->weight.numel();
    return {fc->weight.shape()[0]};
  }
  if (dynamic_cast<MaxPool2d*>(&m)) {
    std::string r = m.describe();
    int64_t k = repr_value(r, "kernel_size", 1), st = repr_value(r, "stride", k), pad = repr_value(r, "padding", 0);
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
