// Pooling kernels on channels-last activations: memory (N,H,W,C), logical shape (N,C,H,W). Same
// contracts as backend/cpu/pool.h (argmax is still the index h*W+w inside the channel's plane, NaN
// wins, the first maximum in row-major window order otherwise), with the channel the innermost,
// vectorized loop. Work split by image or by output row, no element written by two threads:
// deterministic. Reference twins: backend/ref/pool.h (NCHW).
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/pool.h"

namespace cvtrain::cpu {

// x: (N,H,W,C) -> y, argmax: (N,OH,OW,C)
void max_pool2d_forward_nhwc(const float* x, float* y, int32_t* argmax, const Pool2dShape& s);
// dy, argmax: (N,OH,OW,C) -> dx: (N,H,W,C) (fully written)
void max_pool2d_backward_nhwc(const float* dy, const int32_t* argmax, float* dx, const Pool2dShape& s);
// x: (N,HW,C) -> y: (N,C), the mean over HW
void global_avg_pool2d_forward_nhwc(const float* x, float* y, int64_t N, int64_t C, int64_t HW);
// dy: (N,C) -> dx: (N,HW,C) = dy / HW
void global_avg_pool2d_backward_nhwc(const float* dy, float* dx, int64_t N, int64_t C, int64_t HW);

}  // namespace cvtrain::cpu
