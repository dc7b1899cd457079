// Layer constructors (PyTorch names, shapes, default init) and forwards that call one op each.
#include "cvtrain/nn/layers.h"

#include <cmath>

#include "cvtrain/nn/init.h"
#include "cvtrain/ops/conv.h"
#include "cvtrain/ops/dropconnect.h"
#include "cvtrain/ops/dropout.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/linalg.h"
#include "cvtrain/ops/norm.h"
#include "cvtrain/ops/pool.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::nn {

static const char* py_bool(bool b) { return b ? "True" : "False"; }

// torch.nn.Linear/Conv2d.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)), then
// bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
static void reset_weight_and_bias(Variable& weight, Variable& bias, Rng& rng) {
  init::kaiming_uniform_(weight.data(), std::sqrt(5.0), rng);
  if (bias.defined()) {
    float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(init::fan_in(weight.shape()))));
    init::uniform_(bias.data(), -bound, bound, rng);
  }
}

Linear::Linear(Rng& rng, int64_t in_features, int64_t out_features, bool with_bias)
    : Module("Linear"), in_(in_features), out_(out_features) {
  CHECK(in_ > 0 && out_ > 0, "Linear(", in_, ", ", out_, "): sizes must be positive");
  weight = register_parameter("weight", Tensor::empty({out_, in_}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out_}));
  reset_weight_and_bias(weight, bias, rng);
}

Variable Linear::forward(Context& ctx, const Variable& x) {
  if (dropconnect > 0.0f) return ops::dropconnect_linear(ctx, x, weight, bias, dropconnect, training());
  return ops::linear(ctx, x, weight, bias);
}

std::string Linear::describe() const {
  return detail::concat("Linear(in_features=", in_, ", out_features=", out_, ", bias=", py_bool(bias.defined()),
                        dropconnect > 0.0f ? detail::concat(", dropconnect=", dropconnect) : std::string(), ")");
}

Conv2d::Conv2d(Rng& rng, const Conv2dOptions& options) : Module("Conv2d"), opt_(options) {
  const Conv2dOptions& o = opt_;
  CHECK(o.in_channels() > 0 && o.out_channels() > 0 && o.kernel_size() > 0 && o.stride() > 0 && o.padding() >= 0 &&
            o.dilation() > 0 && o.groups() > 0 && o.in_channels() % o.groups() == 0 &&
            o.out_channels() % o.groups() == 0,
        "Conv2d(", o.in_channels(), ", ", o.out_channels(), ", kernel_size=", o.kernel_size(), ", stride=", o.stride(),
        ", padding=", o.padding(), ", dilation=", o.dilation(), ", groups=", o.groups(),
        "): channels must divide by groups, sizes be positive");
  weight = register_parameter(
      "weight", Tensor::empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size(), o.kernel_size()}));
  if (o.bias()) bias = register_parameter("bias", Tensor::empty({o.out_channels()}));
  reset_weight_and_bias(weight, bias, rng);
}

Variable Conv2d::forward(Context& ctx, const Variable& x) {
  ops::Conv2dOptions opt;
  opt.stride_h = opt.stride_w = opt_.stride();
  opt.pad_h = opt.pad_w = opt_.padding();
  opt.dilation_h = opt.dilation_w = opt_.dilation();
  opt.groups = opt_.groups();
  return ops::conv2d(ctx, x, weight, bias, opt);
}

std::string Conv2d::describe() const {
  // torch's Conv2d.extra_repr: padding, dilation, groups and bias shown only when not the default
  auto pair = [](int64_t v) { return detail::concat("(", v, ", ", v, ")"); };
  std::string s = detail::concat("Conv2d(", opt_.in_channels(), ", ", opt_.out_channels(),
                                 ", kernel_size=", pair(opt_.kernel_size()), ", stride=", pair(opt_.stride()));
  if (opt_.padding() != 0) s += ", padding=" + pair(opt_.padding());
  if (opt_.dilation() != 1) s += ", dilation=" + pair(opt_.dilation());
  if (opt_.groups() != 1) s += detail::concat(", groups=", opt_.groups());
  if (!bias.defined()) s += ", bias=False";
  return s + ")";
}

BatchNorm2d::BatchNorm2d(int64_t num_features, float eps, float momentum)
    : Module("BatchNorm2d"),
      running_mean(register_buffer("running_mean", Tensor::zeros({num_features}))),
      running_var(register_buffer("running_var", Tensor::full({num_features}, 1.0f))),
      num_batches_tracked(register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64))),
      c_(num_features),
      eps_(eps),
      momentum_(momentum) {
  CHECK(c_ > 0, "BatchNorm2d(", c_, "): num_features must be positive");
  weight = register_parameter("weight", Tensor::full({c_}, 1.0f));
  bias = register_parameter("bias", Tensor::zeros({c_}));
}

Variable BatchNorm2d::forward(Context& ctx, const Variable& x) {
  ops::BatchNormOptions opt;
  opt.training = training();
  opt.momentum = momentum_;
  opt.eps = eps_;
  if (training()) num_batches_tracked.data<int64_t>()[0] += 1;
  return ops::batch_norm(ctx, x, weight, bias, running_mean, running_var, opt);
}

Variable BatchNorm2d::forward_fused(Context& ctx, const Variable& x, const Variable& residual, bool relu) {
  ops::BatchNormOptions opt;
  opt.training = training();
  opt.momentum = momentum_;
  opt.eps = eps_;
  if (training()) num_batches_tracked.data<int64_t>()[0] += 1;
  return ops::batch_norm_add_relu(ctx, x, weight, bias, running_mean, running_var, opt, residual, relu);
}

std::string BatchNorm2d::describe() const {
  return detail::concat("BatchNorm2d(", c_, ", eps=", eps_, ", momentum=", momentum_,
                        ", affine=True, track_running_stats=True)");
}

MaxPool2d::MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : Module("MaxPool2d"), k_(kernel_size), stride_(stride < 0 ? kernel_size : stride), pad_(padding) {
  CHECK(k_ > 0 && stride_ > 0 && pad_ >= 0 && 2 * pad_ <= k_, "MaxPool2d(kernel_size=", k_, ", stride=", stride_,
        ", padding=", pad_, "): sizes must be positive and padding at most half the kernel");
}

Variable MaxPool2d::forward(Context& ctx, const Variable& x) {
  ops::Pool2dOptions opt;
  opt.kernel_h = opt.kernel_w = k_;
  opt.stride_h = opt.stride_w = stride_;
  opt.pad_h = opt.pad_w = pad_;
  return ops::max_pool2d(ctx, x, opt);
}

std::string MaxPool2d::describe() const {
  return detail::concat("MaxPool2d(kernel_size=", k_, ", stride=", stride_, ", padding=", pad_,
                        ", dilation=1, ceil_mode=False)");
}

Variable Flatten::forward(Context& ctx, const Variable& x) { return ops::flatten(ctx, x, 1); }

Dropout::Dropout(float p, ops::DropoutMode mode) : Module("Dropout"), p_(p), mode_(mode) {
  CHECK(p >= 0.0f && p < 1.0f, "Dropout(p=", p, "): p must be in [0, 1)");
}

Variable Dropout::forward(Context& ctx, const Variable& x) { return ops::dropout(ctx, x, p_, training(), mode_); }

std::string Dropout::describe() const {
  return detail::concat("Dropout(p=", p_, ", inplace=False", mode_ == ops::DropoutMode::original ? ", mode=original" : "", ")");
}

Variable ReLU::forward(Context& ctx, const Variable& x) { return ops::relu(ctx, x); }

Variable Sequential::forward(Context& ctx, const Variable& x) {
  Variable y = x;
  const auto& kids = children();
  for (size_t i = 0; i < kids.size(); ++i) {
    // BatchNorm2d then ReLU: one fused op (the same values, one pass fewer each way)
    auto* bn = dynamic_cast<BatchNorm2d*>(kids[i].second.get());
    if (bn && i + 1 < kids.size() && dynamic_cast<ReLU*>(kids[i + 1].second.get())) {
      y = bn->forward_fused(ctx, y, Variable(), true);
      ++i;
      continue;
    }
    y = kids[i].second->forward(ctx, y);
  }
  return y;
}

}  // namespace cvtrain::nn
