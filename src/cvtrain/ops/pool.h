// Pooling over NCHW activations: max, average (padding counted as PyTorch's count_include_pad=True),
// and global average pooling.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

struct Pool2dOptions {
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;
};

Variable max_pool2d(Context& ctx, const Variable& x, const Pool2dOptions& opt);  // (N,C,H,W)->(N,C,OH,OW)
Variable avg_pool2d(Context& ctx, const Variable& x, const Pool2dOptions& opt);
Variable global_avg_pool2d(Context& ctx, const Variable& x);  // (N,C,H,W) -> (N,C)

}  // namespace cvtrain::ops
