// Residual networks for small images (He et al. 2016, "Deep Residual Learning for Image Recognition",
// section 4.2: CIFAR-style, 3 stages of n basic blocks at 16/32/64 channels, depth 6n+2), built at
// run time; the pre-activation variant and Wide ResNet; the lecture's plain residual stack. State_dict
// names and repr() equal the anchor classes Block and ResNet20 of shared/anchors/torch_fmnist.py;
// torchvision's ResNet-18/34/50 (ImageNet layout, Bottleneck blocks for 50) and a ResNet-18 for small
// images, both with torchvision's state_dict names.
#pragma once
#include <memory>
#include <string>

#include "cvtrain/nn/activations.h"
#include "cvtrain/nn/layers.h"

namespace cvtrain::nn {

// The basic block: y = act(b2(c2(act(b1(c1(x))))) + shortcut(x)), the shortcut an identity or, when
// the stride or width changes, Conv1x1(stride)-BN in `sc` (PyTorch class Block, option B of the paper).
// Parameter-free activations are held off the module tree (the anchor calls F.relu), so the
// state_dict and repr are the anchor's; an activation with parameters (prelu) registers as act1/act2.
// torchvision_names: the same block named as torchvision's BasicBlock (conv1, bn1, conv2, bn2, downsample).
class BasicBlock : public Module {
 public:
  BasicBlock(Rng& rng, int64_t in_channels, int64_t out_channels, int64_t stride, const ActivationSpec& act,
             bool torchvision_names = false);
  Variable forward(Context& ctx, const Variable& x) override;  // (N,Cin,H,W) -> (N,Cout,H/stride,W/stride)

  std::shared_ptr<Conv2d> c1, c2;
  std::shared_ptr<BatchNorm2d> b1, b2;  // b2: the last BatchNorm of the residual branch
  std::shared_ptr<Sequential> sc;       // null for the identity shortcut
  int64_t in_channels, out_channels, stride;
  // Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth"): in training the
  // residual branch of each sample is dropped with probability drop_path and scaled by
  // 1/(1-drop_path) when kept (per-sample mask from a Philox stream of ctx.rng); identity of the
  // scaling at evaluation. 0 (the default) draws nothing and computes exactly the plain block.
  // drop_path_per_batch: one draw for the whole batch; a dropped branch is not computed at all.
  float drop_path = 0.0f;
  bool drop_path_per_batch = false;

 private:
  std::shared_ptr<Module> act1_, act2_;
};

// The pre-activation block (He et al. 2016, "Identity Mappings in Deep Residual Networks"):
// o = act(bn1(x)); y = conv2(act(bn2(dropout(conv1(o))))) + shortcut, the shortcut x or, when the
// stride or width changes, a 1x1 conv `sc` of o. Dropout between the convs is Wide ResNet's
// (Zagoruyko & Komodakis 2016); p = 0 leaves it out. Activations held as in BasicBlock.
class PreActBlock : public Module {
 public:
  PreActBlock(Rng& rng, int64_t in_channels, int64_t out_channels, int64_t stride, const ActivationSpec& act,
              float dropout);
  Variable forward(Context& ctx, const Variable& x) override;  // (N,Cin,H,W) -> (N,Cout,H/stride,W/stride)

  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Dropout> drop;       // null for p = 0
  std::shared_ptr<Sequential> sc;      // null for the identity shortcut
  float drop_path = 0.0f;              // stochastic depth of the residual branch, as BasicBlock's
  bool drop_path_per_batch = false;

 private:
  std::shared_ptr<Module> act1_, act2_;
};

// torchvision's Bottleneck (ResNet v1.5: the stride on the 3x3 conv): y = act(bn3(conv3(act(bn2(conv2(
// act(bn1(conv1(x)))))))) + downsample(x)), conv1 1x1 in->width, conv2 3x3/stride width->width, conv3
// 1x1 width->4 width; downsample Conv1x1(stride)-BN when the stride or width changes. Activations held
// as in BasicBlock (act1..act3 registered only when they have parameters); drop_path as BasicBlock's.
class Bottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(Rng& rng, int64_t in_channels, int64_t width, int64_t stride, const ActivationSpec& act);
  Variable forward(Context& ctx, const Variable& x) override;  // (N,Cin,H,W) -> (N,4 width,H/stride,W/stride)

  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;  // bn3: the last BatchNorm of the residual branch
  std::shared_ptr<Sequential> downsample;     // null for the identity shortcut
  int64_t width;
  float drop_path = 0.0f;
  bool drop_path_per_batch = false;

 private:
  std::shared_ptr<Module> act1_, act2_, act3_;
};

// (N,C,H,W) -> (N,C): F.adaptive_avg_pool2d(x, 1).flatten(1).
class GlobalAvgPool : public Module {
 public:
  GlobalAvgPool() : Module("GlobalAvgPool") {}
  Variable forward(Context& ctx, const Variable& x) override;
};

// stem (Conv3x3 16, BN, act), layers (3 stages of n blocks: 16, 32/2, 64/2), global average pool, fc.
// n = 3 is ResNet-20, 5 ResNet-32, 9 ResNet-56, 18 ResNet-110.
std::shared_ptr<Module> make_cifar_resnet(Rng& rng, int64_t n, int64_t in_channels, int64_t num_classes,
                                          const ActivationSpec& act);

// Pre-activation ResNet for small images: stem Conv3x3 (16), layers (3 stages of n PreActBlocks at
// 16k, 32k/2, 64k/2 channels), head (BN, act), global average pool, fc. widen k = 1, n = 3 is the
// pre-activation ResNet-20; k = 4, n = 2 is WRN-16-4 (depth 6n+4 counted as the WRN paper does).
std::shared_ptr<Module> make_preact_resnet(Rng& rng, int64_t n, int64_t widen, int64_t in_channels,
                                           int64_t num_classes, const ActivationSpec& act, float dropout,
                                           const std::string& type);

// torchvision's ResNet (He et al. 2016, table 1): conv1 7x7/2 pad 3, bn1, act, maxpool 3x3/2 pad 1,
// layer1..layer4 at 64/128/256/512 (x4 for Bottleneck), the first block of layer2..4 at stride 2,
// global average pool, fc. depth 18: BasicBlock [2,2,2,2]; 34: BasicBlock [3,4,6,3]; 50: Bottleneck
// [3,4,6,3]. State_dict names and order are torchvision.models.resnet{18,34,50}'s.
std::shared_ptr<Module> make_torchvision_resnet(Rng& rng, int64_t depth, int64_t in_channels, int64_t num_classes,
                                                const ActivationSpec& act);

// ResNet-18 adapted to small images: as make_torchvision_resnet(18) with a 3x3 stride-1 stem and no
// max pooling; the same names.
std::shared_ptr<Module> make_small_resnet18(Rng& rng, int64_t in_channels, int64_t num_classes,
                                            const ActivationSpec& act);

// The lecture's residual stack: net = [Conv3x3 (in->width), BN, act, `blocks` x BasicBlock(width),
// GlobalAvgPool, Linear(width, classes)], one Sequential so `cvtrain diagnose` reports each block.
std::shared_ptr<Module> make_residual_stack(Rng& rng, int64_t blocks, int64_t width, int64_t in_channels,
                                            int64_t num_classes, const ActivationSpec& act);

// Stochastic depth over the model's residual blocks (BasicBlock, Bottleneck, PreActBlock, in module order,
// l = 1..L): drop_path of block l is max_rate * l / L, the linear decay of the survival probability of
// Huang et al. 2016 (max_rate = 1 - p_L); per_batch: one draw per batch instead of per sample.
// Returns L (0: the model has no residual block).
int64_t set_drop_path(Module& model, float max_rate, bool per_batch = false);

// Zeroes the weight of each post-activation block's last BatchNorm (BasicBlock b2, Bottleneck bn3), so
// every block starts as the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD"; torchvision's
// zero_init_residual). Returns the number of blocks.
int64_t zero_init_residual(Module& model);

}  // namespace cvtrain::nn
