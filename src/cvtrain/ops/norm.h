// Batch normalization over (N,C,H,W) or (N,C). Training uses batch statistics and updates the
// running ones with PyTorch's convention: running = (1-momentum)*running + momentum*batch, with
// the unbiased batch variance for running_var. Evaluation uses the running statistics.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

struct BatchNormOptions {
  bool training = true;
  float momentum = 0.1f;
  float eps = 1e-5f;
};

// weight, bias: (C) learnable (may be undefined: then 1 and 0); running_mean, running_var: (C)
// buffers updated in place when training.
Variable batch_norm(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                    Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt);

// y = relu(bn(x) + residual), the residual block's tail and conv-BN-ReLU in one op: one pass for the
// statistics and one for y; the backward one pass for its sums (the ReLU mask from y) and one for
// dx. residual: undefined (none) or x's shape; relu false: no ReLU. Batch norm as above (same
// options, running statistics, train.sync_bn). On CUDA tensors: the composition batch_norm, add,
// relu. Channels-last input gives channels-last output.
Variable batch_norm_add_relu(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                             Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt,
                             const Variable& residual /*undefined: none*/, bool relu);

}  // namespace cvtrain::ops
