// Pooling kernels over NCHW planes: max (with int32 argmax for the backward), average with the
// padding counted in the divisor (PyTorch's count_include_pad=True) and global average. Raw pointers
// and sizes in, no allocation, no autograd. Reference twins: backend/ref/pool.h.
#pragma once
#include <cstdint>

namespace cvtrain {

// Geometry of a 2-D pooling window sweep; OH = (H + 2*PH - KH) / SH + 1 (floor), likewise OW.
struct Pool2dShape {
  int64_t N, C, H, W;
  int64_t KH, KW, SH, SW, PH, PW;
  int64_t OH, OW;
};

// Fills OH and OW from the rest; CHECKs that every window holds at least one input element
// (pad <= kernel/2, as PyTorch requires) and that the output is not empty.
Pool2dShape make_pool2d_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t SH,
                              int64_t SW, int64_t PH, int64_t PW);

}  // namespace cvtrain

namespace cvtrain::cpu {

// x: (N,C,H,W) -> y: (N,C,OH,OW), argmax: (N,C,OH,OW) index h*W+w of the maximum inside its plane.
// NaN wins, as in PyTorch. The 2x2 stride-2 unpadded window has its own vectorized loop.
void max_pool2d_forward(const float* x, float* y, int32_t* argmax, const Pool2dShape& s);
// dy, argmax: (N,C,OH,OW) -> dx: (N,C,H,W) (fully written)
void max_pool2d_backward(const float* dy, const int32_t* argmax, float* dx, const Pool2dShape& s);

// x: (N,C,H,W) -> y: (N,C,OH,OW); divisor KH*KW whatever the padding.
void avg_pool2d_forward(const float* x, float* y, const Pool2dShape& s);
// dy: (N,C,OH,OW) -> dx: (N,C,H,W) (fully written)
void avg_pool2d_backward(const float* dy, float* dx, const Pool2dShape& s);

// x: (P,HW) -> y: (P), the mean of each plane (P = N*C).
void global_avg_pool2d_forward(const float* x, float* y, int64_t P, int64_t HW);
// dy: (P) -> dx: (P,HW)
void global_avg_pool2d_backward(const float* dy, float* dx, int64_t P, int64_t HW);

}  // namespace cvtrain::cpu
