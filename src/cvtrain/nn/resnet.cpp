// The residual blocks (basic, bottleneck, pre-activation), the CIFAR-style, pre-activation/wide and
// torchvision ResNets and the residual stack (see resnet.h).
#include "cvtrain/nn/resnet.h"

#include <array>
#include <vector>

#include "cvtrain/base/philox.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/pool.h"

namespace cvtrain::nn {

using std::make_shared;

BasicBlock::BasicBlock(Rng& rng, int64_t cin, int64_t cout, int64_t s, const ActivationSpec& act, bool tv)
    : Module(tv ? "BasicBlock" : "Block"), in_channels(cin), out_channels(cout), stride(s) {
  CHECK(cin > 0 && cout > 0 && s > 0, "BasicBlock: bad channels or stride");
  c1 = register_module(tv ? "conv1" : "c1", make_shared<Conv2d>(rng, Conv2dOptions(cin, cout, 3).stride(s).padding(1).bias(false)));
  b1 = register_module(tv ? "bn1" : "b1", make_shared<BatchNorm2d>(cout));
  c2 = register_module(tv ? "conv2" : "c2", make_shared<Conv2d>(rng, Conv2dOptions(cout, cout, 3).padding(1).bias(false)));
  b2 = register_module(tv ? "bn2" : "b2", make_shared<BatchNorm2d>(cout));
  if (s != 1 || cin != cout) {
    sc = make_shared<Sequential>();
    sc->add(make_shared<Conv2d>(rng, Conv2dOptions(cin, cout, 1).stride(s).bias(false)));
    sc->add(make_shared<BatchNorm2d>(cout));
    register_module(tv ? "downsample" : "sc", sc);
  }
  act1_ = make_activation(act, cout);
  act2_ = make_activation(act, cout);
  if (!act1_->named_parameters().empty()) {
    register_module("act1", act1_);
    register_module("act2", act2_);
  }
}

namespace {

// Stochastic depth of a residual branch (Huang et al. 2016), shared by both blocks. Per batch: one
// draw u from counter 0 of a fresh stream, the branch kept when u >= rate (false: dropped).
bool batch_keeps_branch(Context& ctx, float rate) {
  CHECK(rate >= 0.0f && rate < 1.0f, "drop_path = ", rate, " must be in [0, 1)");
  return philox_uniform(ctx.rng.seed(), ctx.rng.next_stream(), 0) >= rate;
}

// branch: (N,C,H,W) -> branch_n * keep_n / (1 - rate), keep_n ~ Bernoulli(1 - rate) per sample n from
// counter n of a fresh stream; per batch (the branch already kept), branch / (1 - rate).
Variable scale_branch(Context& ctx, const Variable& branch, float rate, bool per_batch) {
  CHECK(rate >= 0.0f && rate < 1.0f, "drop_path = ", rate, " must be in [0, 1)");
  if (per_batch) return ops::mul_scalar(ctx, branch, 1.0f / (1.0f - rate));
  const int64_t n = branch.shape()[0];
  const uint64_t stream = ctx.rng.next_stream();
  Tensor mask = Tensor::empty({n, 1, 1, 1});  // (N,1,1,1), broadcast over (N,C,H,W)
  float* m = mask.data<float>();
  for (int64_t i = 0; i < n; ++i)
    m[i] = philox_uniform(ctx.rng.seed(), stream, static_cast<uint64_t>(i)) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
  return ops::mul(ctx, branch, Variable(mask));
}

// act(bn(v)); ReLU runs inside the batch norm's op (ops::batch_norm_add_relu), other activations after it.
Variable bn_act(Context& ctx, BatchNorm2d& bn, Module& act, const Variable& v) {
  if (dynamic_cast<ReLU*>(&act)) return bn.forward_fused(ctx, v, Variable(), true);
  return act.forward(ctx, bn.forward(ctx, v));
}

}  // namespace

Variable BasicBlock::forward(Context& ctx, const Variable& x) {
  const bool stochastic = training() && drop_path > 0.0f;
  if (stochastic && drop_path_per_batch && !batch_keeps_branch(ctx, drop_path))
    return act2_->forward(ctx, sc ? sc->forward(ctx, x) : x);  // the branch dropped for the whole batch
  // ReLU: batch norm, residual add and ReLU fused (ops::batch_norm_add_relu); other activations unfused
  const bool fuse = dynamic_cast<ReLU*>(act1_.get()) != nullptr;
  Variable y = bn_act(ctx, *b1, *act1_, c1->forward(ctx, x));
  if (fuse && !stochastic) {
    const Variable branch = c2->forward(ctx, y);
    return b2->forward_fused(ctx, branch, sc ? sc->forward(ctx, x) : x, true);
  }
  y = b2->forward(ctx, c2->forward(ctx, y));
  if (stochastic) y = scale_branch(ctx, y, drop_path, drop_path_per_batch);
  return act2_->forward(ctx, ops::add(ctx, y, sc ? sc->forward(ctx, x) : x));
}

Bottleneck::Bottleneck(Rng& rng, int64_t cin, int64_t w, int64_t s, const ActivationSpec& act)
    : Module("Bottleneck"), width(w) {
  CHECK(cin > 0 && w > 0 && s > 0, "Bottleneck: bad channels or stride");
  const int64_t cout = w * expansion;
  conv1 = register_module("conv1", make_shared<Conv2d>(rng, Conv2dOptions(cin, w, 1).bias(false)));
  bn1 = register_module("bn1", make_shared<BatchNorm2d>(w));
  conv2 = register_module("conv2", make_shared<Conv2d>(rng, Conv2dOptions(w, w, 3).stride(s).padding(1).bias(false)));
  bn2 = register_module("bn2", make_shared<BatchNorm2d>(w));
  conv3 = register_module("conv3", make_shared<Conv2d>(rng, Conv2dOptions(w, cout, 1).bias(false)));
  bn3 = register_module("bn3", make_shared<BatchNorm2d>(cout));
  if (s != 1 || cin != cout) {
    downsample = make_shared<Sequential>();
    downsample->add(make_shared<Conv2d>(rng, Conv2dOptions(cin, cout, 1).stride(s).bias(false)));
    downsample->add(make_shared<BatchNorm2d>(cout));
    register_module("downsample", downsample);
  }
  act1_ = make_activation(act, w);
  act2_ = make_activation(act, w);
  act3_ = make_activation(act, cout);
  if (!act1_->named_parameters().empty()) {
    register_module("act1", act1_);
    register_module("act2", act2_);
    register_module("act3", act3_);
  }
}

Variable Bottleneck::forward(Context& ctx, const Variable& x) {
  const bool stochastic = training() && drop_path > 0.0f;
  const auto shortcut = [&] { return downsample ? downsample->forward(ctx, x) : x; };
  if (stochastic && drop_path_per_batch && !batch_keeps_branch(ctx, drop_path)) return act3_->forward(ctx, shortcut());
  // ReLU: batch norm, residual add and ReLU fused (ops::batch_norm_add_relu), as in BasicBlock
  const bool fuse = dynamic_cast<ReLU*>(act1_.get()) != nullptr;
  Variable y = bn_act(ctx, *bn1, *act1_, conv1->forward(ctx, x));
  y = conv3->forward(ctx, bn_act(ctx, *bn2, *act2_, conv2->forward(ctx, y)));
  if (fuse && !stochastic) return bn3->forward_fused(ctx, y, shortcut(), true);
  y = bn3->forward(ctx, y);
  if (stochastic) y = scale_branch(ctx, y, drop_path, drop_path_per_batch);
  return act3_->forward(ctx, ops::add(ctx, y, shortcut()));
}

PreActBlock::PreActBlock(Rng& rng, int64_t cin, int64_t cout, int64_t s, const ActivationSpec& act, float dropout)
    : Module("PreActBlock") {
  CHECK(cin > 0 && cout > 0 && s > 0, "PreActBlock: bad channels or stride");
  bn1 = register_module("bn1", make_shared<BatchNorm2d>(cin));
  conv1 = register_module("conv1", make_shared<Conv2d>(rng, Conv2dOptions(cin, cout, 3).stride(s).padding(1).bias(false)));
  if (dropout > 0) drop = register_module("drop", make_shared<Dropout>(dropout));
  bn2 = register_module("bn2", make_shared<BatchNorm2d>(cout));
  conv2 = register_module("conv2", make_shared<Conv2d>(rng, Conv2dOptions(cout, cout, 3).padding(1).bias(false)));
  if (s != 1 || cin != cout) {
    sc = make_shared<Sequential>();
    sc->add(make_shared<Conv2d>(rng, Conv2dOptions(cin, cout, 1).stride(s).bias(false)));
    register_module("sc", sc);
  }
  act1_ = make_activation(act, cin);
  act2_ = make_activation(act, cout);
  if (!act1_->named_parameters().empty()) {
    register_module("act1", act1_);
    register_module("act2", act2_);
  }
}

Variable PreActBlock::forward(Context& ctx, const Variable& x) {
  const bool stochastic = training() && drop_path > 0.0f;
  Variable o = bn_act(ctx, *bn1, *act1_, x);
  if (stochastic && drop_path_per_batch && !batch_keeps_branch(ctx, drop_path)) return sc ? sc->forward(ctx, o) : x;
  Variable y = conv1->forward(ctx, o);
  if (drop) y = drop->forward(ctx, y);
  y = conv2->forward(ctx, bn_act(ctx, *bn2, *act2_, y));
  if (stochastic) y = scale_branch(ctx, y, drop_path, drop_path_per_batch);
  return ops::add(ctx, y, sc ? sc->forward(ctx, o) : x);
}

Variable GlobalAvgPool::forward(Context& ctx, const Variable& x) { return ops::global_avg_pool2d(ctx, x); }

namespace {

// class ResNet20: stem, layers, then fc(adaptive_avg_pool2d(x, 1).flatten(1)).
class CifarResNet : public Module {
 public:
  CifarResNet(Rng& rng, int64_t n, int64_t in_channels, int64_t num_classes, const ActivationSpec& act)
      : Module(n == 3 ? "ResNet20" : "ResNet" + std::to_string(6 * n + 2)) {
    stem_ = make_shared<Sequential>();
    stem_->add(make_shared<Conv2d>(rng, Conv2dOptions(in_channels, 16, 3).padding(1).bias(false)));
    stem_->add(make_shared<BatchNorm2d>(16));
    stem_->add(make_activation(act, 16));
    register_module("stem", stem_);
    layers_ = make_shared<Sequential>();
    int64_t cin = 16;
    for (auto [cout, stride] : {std::pair<int64_t, int64_t>{16, 1}, {32, 2}, {64, 2}}) {
      for (int64_t i = 0; i < n; ++i) {
        layers_->add(make_shared<BasicBlock>(rng, cin, cout, i == 0 ? stride : 1, act));
        cin = cout;
      }
    }
    register_module("layers", layers_);
    fc_ = register_module("fc", make_shared<Linear>(rng, 64, num_classes));
  }
  Variable forward(Context& ctx, const Variable& x) override {  // (N,C,H,W) -> (N,classes)
    Variable h = layers_->forward(ctx, stem_->forward(ctx, x));
    return fc_->forward(ctx, ops::global_avg_pool2d(ctx, h));
  }

 private:
  std::shared_ptr<Sequential> stem_, layers_;
  std::shared_ptr<Linear> fc_;
};

class PreActResNet : public Module {
 public:
  PreActResNet(Rng& rng, int64_t n, int64_t k, int64_t in_channels, int64_t num_classes, const ActivationSpec& act,
               float dropout, const std::string& type)
      : Module(type) {
    stem_ = register_module("stem", make_shared<Conv2d>(rng, Conv2dOptions(in_channels, 16, 3).padding(1).bias(false)));
    layers_ = make_shared<Sequential>();
    int64_t cin = 16;
    for (auto [cout, stride] : {std::pair<int64_t, int64_t>{16 * k, 1}, {32 * k, 2}, {64 * k, 2}}) {
      for (int64_t i = 0; i < n; ++i) {
        layers_->add(make_shared<PreActBlock>(rng, cin, cout, i == 0 ? stride : 1, act, dropout));
        cin = cout;
      }
    }
    register_module("layers", layers_);
    head_ = make_shared<Sequential>();
    head_->add(make_shared<BatchNorm2d>(cin));
    head_->add(make_activation(act, cin));
    register_module("head", head_);
    fc_ = register_module("fc", make_shared<Linear>(rng, cin, num_classes));
  }
  Variable forward(Context& ctx, const Variable& x) override {  // (N,C,H,W) -> (N,classes)
    Variable h = head_->forward(ctx, layers_->forward(ctx, stem_->forward(ctx, x)));
    return fc_->forward(ctx, ops::global_avg_pool2d(ctx, h));
  }

 private:
  std::shared_ptr<Conv2d> stem_;
  std::shared_ptr<Sequential> layers_, head_;
  std::shared_ptr<Linear> fc_;
};

// torchvision's ResNet: fc(flatten(avgpool(layer4(...(maxpool(relu(bn1(conv1(x))))))))); the small-image
// stem (3x3, stride 1) has no max pool. The activation is held off the tree as in the blocks.
class TorchvisionResNet : public Module {
 public:
  TorchvisionResNet(Rng& rng, const std::array<int64_t, 4>& blocks, bool bottleneck, bool small_stem,
                    int64_t in_channels, int64_t num_classes, const ActivationSpec& act)
      : Module("ResNet") {
    const Conv2dOptions stem = small_stem ? Conv2dOptions(in_channels, 64, 3).padding(1).bias(false)
                                          : Conv2dOptions(in_channels, 64, 7).stride(2).padding(3).bias(false);
    conv1_ = register_module("conv1", make_shared<Conv2d>(rng, stem));
    bn1_ = register_module("bn1", make_shared<BatchNorm2d>(64));
    act_ = make_activation(act, 64);
    if (!act_->named_parameters().empty()) register_module("act", act_);
    if (!small_stem) maxpool_ = register_module("maxpool", make_shared<MaxPool2d>(3, 2, 1));
    int64_t cin = 64;
    for (size_t stage = 0; stage < blocks.size(); ++stage) {
      const int64_t width = int64_t{64} << stage, stride = stage == 0 ? 1 : 2;
      auto layer = make_shared<Sequential>();
      for (int64_t i = 0; i < blocks[stage]; ++i) {
        const int64_t s = i == 0 ? stride : 1;
        if (bottleneck) {
          layer->add(make_shared<Bottleneck>(rng, cin, width, s, act));
          cin = width * Bottleneck::expansion;
        } else {
          layer->add(make_shared<BasicBlock>(rng, cin, width, s, act, true));
          cin = width;
        }
      }
      layers_.push_back(register_module("layer" + std::to_string(stage + 1), layer));
    }
    fc_ = register_module("fc", make_shared<Linear>(rng, cin, num_classes));
  }
  Variable forward(Context& ctx, const Variable& x) override {  // (N,C,H,W) -> (N,classes)
    Variable h = conv1_->forward(ctx, x);
    h = dynamic_cast<ReLU*>(act_.get()) ? bn1_->forward_fused(ctx, h, Variable(), true)
                                        : act_->forward(ctx, bn1_->forward(ctx, h));
    if (maxpool_) h = maxpool_->forward(ctx, h);
    for (auto& layer : layers_) h = layer->forward(ctx, h);
    return fc_->forward(ctx, ops::global_avg_pool2d(ctx, h));
  }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<Module> act_;
  std::shared_ptr<MaxPool2d> maxpool_;  // null for the small-image stem
  std::vector<std::shared_ptr<Sequential>> layers_;
  std::shared_ptr<Linear> fc_;
};

class StackModel : public Module {
 public:
  explicit StackModel(std::shared_ptr<Sequential> net) : Module("ResidualStack") {
    net_ = register_module("net", std::move(net));
  }
  Variable forward(Context& ctx, const Variable& x) override { return net_->forward(ctx, x); }

 private:
  std::shared_ptr<Sequential> net_;
};

void visit_blocks(Module& m, int64_t& count) {
  if (auto* b = dynamic_cast<BasicBlock*>(&m)) {
    b->b2->weight.data().fill_(0.0f);
    ++count;
  }
  if (auto* b = dynamic_cast<Bottleneck*>(&m)) {
    b->bn3->weight.data().fill_(0.0f);
    ++count;
  }
  for (const auto& [name, child] : m.children()) visit_blocks(*child, count);
}

}  // namespace

std::shared_ptr<Module> make_cifar_resnet(Rng& rng, int64_t n, int64_t in_channels, int64_t num_classes,
                                          const ActivationSpec& act) {
  CHECK(n >= 1, "make_cifar_resnet: n must be positive");
  return make_shared<CifarResNet>(rng, n, in_channels, num_classes, act);
}

std::shared_ptr<Module> make_preact_resnet(Rng& rng, int64_t n, int64_t widen, int64_t in_channels,
                                           int64_t num_classes, const ActivationSpec& act, float dropout,
                                           const std::string& type) {
  CHECK(n >= 1 && widen >= 1, "make_preact_resnet: n and widen must be positive");
  return make_shared<PreActResNet>(rng, n, widen, in_channels, num_classes, act, dropout, type);
}

std::shared_ptr<Module> make_torchvision_resnet(Rng& rng, int64_t depth, int64_t in_channels, int64_t num_classes,
                                                const ActivationSpec& act) {
  CHECK(depth == 18 || depth == 34 || depth == 50, "make_torchvision_resnet: depth ", depth, " is not 18, 34 or 50");
  const std::array<int64_t, 4> blocks = depth == 18 ? std::array<int64_t, 4>{2, 2, 2, 2} : std::array<int64_t, 4>{3, 4, 6, 3};
  return make_shared<TorchvisionResNet>(rng, blocks, depth == 50, false, in_channels, num_classes, act);
}

std::shared_ptr<Module> make_small_resnet18(Rng& rng, int64_t in_channels, int64_t num_classes,
                                            const ActivationSpec& act) {
  return make_shared<TorchvisionResNet>(rng, std::array<int64_t, 4>{2, 2, 2, 2}, false, true, in_channels, num_classes,
                                        act);
}

std::shared_ptr<Module> make_residual_stack(Rng& rng, int64_t blocks, int64_t width, int64_t in_channels,
                                            int64_t num_classes, const ActivationSpec& act) {
  auto net = make_shared<Sequential>();
  net->add(make_shared<Conv2d>(rng, Conv2dOptions(in_channels, width, 3).padding(1).bias(false)));
  net->add(make_shared<BatchNorm2d>(width));
  net->add(make_activation(act, width));
  for (int64_t i = 0; i < blocks; ++i) net->add(make_shared<BasicBlock>(rng, width, width, 1, act));
  net->add(make_shared<GlobalAvgPool>());
  net->add(make_shared<Linear>(rng, width, num_classes));
  return make_shared<StackModel>(net);
}

namespace {
void collect_blocks(Module& m, std::vector<Module*>& blocks) {
  if (dynamic_cast<BasicBlock*>(&m) || dynamic_cast<Bottleneck*>(&m) || dynamic_cast<PreActBlock*>(&m))
    blocks.push_back(&m);
  for (const auto& [name, child] : m.children()) collect_blocks(*child, blocks);
}
}  // namespace

int64_t set_drop_path(Module& model, float max_rate, bool per_batch) {
  CHECK(max_rate >= 0.0f && max_rate < 1.0f, "set_drop_path: rate ", max_rate, " must be in [0, 1)");
  std::vector<Module*> blocks;
  collect_blocks(model, blocks);
  const auto L = static_cast<int64_t>(blocks.size());
  for (int64_t l = 1; l <= L; ++l) {
    const float rate = max_rate * static_cast<float>(l) / static_cast<float>(L);
    Module* m = blocks[static_cast<size_t>(l - 1)];
    if (auto* b = dynamic_cast<BasicBlock*>(m)) b->drop_path = rate, b->drop_path_per_batch = per_batch;
    if (auto* b = dynamic_cast<Bottleneck*>(m)) b->drop_path = rate, b->drop_path_per_batch = per_batch;
    if (auto* b = dynamic_cast<PreActBlock*>(m)) b->drop_path = rate, b->drop_path_per_batch = per_batch;
  }
  return L;
}

int64_t zero_init_residual(Module& model) {
  int64_t count = 0;
  visit_blocks(model, count);
  return count;
}

}  // namespace cvtrain::nn
