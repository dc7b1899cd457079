// 2-D convolution, NCHW activations and OIHW weights (PyTorch's layouts), with stride, padding,
// dilation and groups. Fast path: oneDNN; oracle: backend/ref loops.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
};

// x: (N,C,H,W), weight: (OC,C/groups,KH,KW), bias: (OC) or undefined -> (N,OC,OH,OW)
Variable conv2d(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                const Conv2dOptions& opt);

}  // namespace cvtrain::ops
