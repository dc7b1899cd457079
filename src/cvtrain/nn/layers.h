// The layers of the foundation, each a thin Module over one op of ops/: Linear, Conv2d,
// BatchNorm2d, MaxPool2d, Flatten, Dropout, ReLU, and the Sequential container. Parameter names,
// shapes and default initialization are PyTorch's (torch.nn), so state dicts interchange; random
// values come from the Rng passed to the constructor. No math lives here.
#pragma once
#include "cvtrain/nn/module.h"
#include "cvtrain/ops/dropout.h"

namespace cvtrain::nn {

// y = x W^T + b. weight: (out,in), bias: (out). Init: W, b ~ U(-1/sqrt(in), 1/sqrt(in)).
// dropconnect > 0: in training the weights are masked (ops::dropconnect_linear), full at evaluation.
class Linear : public Module {
 public:
  Linear(Rng& rng, int64_t in_features, int64_t out_features, bool bias = true);
  Variable forward(Context& ctx, const Variable& x) override;  // x: (N,in) -> (N,out)
  std::string describe() const override;

  Variable weight, bias;  // bias undefined when built without one
  float dropconnect = 0.0f;  // DropConnect rate p in [0, 1); 0 computes exactly the plain layer

 private:
  int64_t in_, out_;
};

// weight: (OC, C/groups, K, K), bias: (OC). Init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both, with
// fan_in = C/groups*K*K (kaiming_uniform_(a=sqrt(5)), as torch.nn.Conv2d.reset_parameters).
// Conv2d's hyperparameters by name, as libtorch's: Conv2dOptions(1, 8, 3).padding(1).bias(false).
// Each setter returns the options; the same name without an argument reads the value.
class Conv2dOptions {
 public:
  Conv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  Conv2dOptions& stride(int64_t v) { return stride_ = v, *this; }
  Conv2dOptions& padding(int64_t v) { return padding_ = v, *this; }
  Conv2dOptions& dilation(int64_t v) { return dilation_ = v, *this; }
  Conv2dOptions& groups(int64_t v) { return groups_ = v, *this; }
  Conv2dOptions& bias(bool v) { return bias_ = v, *this; }
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t kernel_size() const { return kernel_size_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }
  int64_t dilation() const { return dilation_; }
  int64_t groups() const { return groups_; }
  bool bias() const { return bias_; }

 private:
  int64_t in_channels_, out_channels_, kernel_size_, stride_ = 1, padding_ = 0, dilation_ = 1, groups_ = 1;
  bool bias_ = true;
};

class Conv2d : public Module {
 public:
  Conv2d(Rng& rng, const Conv2dOptions& options);
  Variable forward(Context& ctx, const Variable& x) override;  // x: (N,C,H,W) -> (N,OC,OH,OW)
  std::string describe() const override;
  const Conv2dOptions& options() const { return opt_; }

  Variable weight, bias;

 private:
  Conv2dOptions opt_;
};

// weight 1, bias 0 (C); buffers running_mean 0, running_var 1 (C), num_batches_tracked (i64, shape ()).
// Training: batch statistics, running ones updated with `momentum`, num_batches_tracked += 1.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f);
  Variable forward(Context& ctx, const Variable& x) override;  // x: (N,C,H,W)
  // relu(this(x) + residual) in one op (ops::batch_norm_add_relu); residual may be undefined.
  // Sequential runs BatchNorm2d then ReLU through it, and so do the residual blocks.
  Variable forward_fused(Context& ctx, const Variable& x, const Variable& residual, bool relu);
  std::string describe() const override;
  float eps() const { return eps_; }

  Variable weight, bias;
  Tensor& running_mean;
  Tensor& running_var;
  Tensor& num_batches_tracked;

 private:
  int64_t c_;
  float eps_, momentum_;
};

// stride defaults to kernel_size, as in PyTorch.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = -1, int64_t padding = 0);  // stride -1: kernel_size
  Variable forward(Context& ctx, const Variable& x) override;  // (N,C,H,W) -> (N,C,OH,OW)
  std::string describe() const override;
  int64_t kernel_size() const { return k_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return pad_; }

 private:
  int64_t k_, stride_, pad_;
};

class Flatten : public Module {  // (N, ...) -> (N, prod(...))
 public:
  Flatten() : Module("Flatten") {}
  Variable forward(Context& ctx, const Variable& x) override;
  std::string describe() const override { return "Flatten(start_dim=1, end_dim=-1)"; }
};

class Dropout : public Module {  // inverted: active in training() only; original: see ops::dropout
 public:
  explicit Dropout(float p = 0.5f, ops::DropoutMode mode = ops::DropoutMode::inverted);
  Variable forward(Context& ctx, const Variable& x) override;
  std::string describe() const override;  // torch's repr; ", mode=original" added for the original form
  void set_mode(ops::DropoutMode mode) { mode_ = mode; }
  ops::DropoutMode mode() const { return mode_; }
  float p() const { return p_; }

 private:
  float p_;
  ops::DropoutMode mode_;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Variable forward(Context& ctx, const Variable& x) override;
};

// Runs its children in order; they are named "0", "1", ... as in torch.nn.Sequential.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Variable forward(Context& ctx, const Variable& x) override;
  // Appends `m` and returns it with its type, for keeping a handle: auto fc = seq.add(make_shared<Linear>(...)).
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    return register_module(std::to_string(children().size()), std::move(m));
  }
  size_t size() const { return children().size(); }
};

}  // namespace cvtrain::nn
