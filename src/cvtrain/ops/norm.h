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

}  // namespace cvtrain::ops
