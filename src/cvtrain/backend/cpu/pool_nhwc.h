// Pooling kernels on channels-last activations: memory (N,H,W,C), logical shape (N,C,H,W). Same
// contracts as backend/cpu/pool.h (argmax is still the index h*W+w inside the channel's plane, NaN
// wins, the first maximum in row-major window order otherwise), with the channel the innermost,
// vectorized loop. Work split by image or by output row, no element written by two threads:
// deterministic. Activations are T = float or bf16 storage (instantiated for both in pool_nhwc.cpp;
// max pooling only moves values, so bf16 results are bitwise the float ones on the widened values;
// the global average pool's (N,C) side stays float). Reference twins: backend/ref/pool.h (NCHW).
#pragma once
#include <cstdint>
#include <type_traits>

#include "cvtrain/backend/cpu/pool.h"
#include "cvtrain/base/bf16.h"

namespace cvtrain::cpu {

// x: (N,H,W,C) -> y, argmax: (N,OH,OW,C)
template <class T>
void max_pool2d_forward_nhwc(const T* x, std::type_identity_t<T>* y, int32_t* argmax, const Pool2dShape& s);
// dy, argmax: (N,OH,OW,C) -> dx: (N,H,W,C) (fully written)
template <class T>
void max_pool2d_backward_nhwc(const T* dy, const int32_t* argmax, std::type_identity_t<T>* dx, const Pool2dShape& s);
// x: (N,HW,C) -> y: (N,C), the mean over HW
template <class T>
void global_avg_pool2d_forward_nhwc(const T* x, float* y, int64_t N, int64_t C, int64_t HW);
// dy: (N,C) -> dx: (N,HW,C) = dy / HW
template <class T>
void global_avg_pool2d_backward_nhwc(const float* dy, T* dx, int64_t N, int64_t C, int64_t HW);

}  // namespace cvtrain::cpu
