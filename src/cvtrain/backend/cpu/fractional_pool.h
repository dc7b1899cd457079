// Fractional max pooling kernels (Graham 2014, "Fractional Max-Pooling", arXiv:1412.6071): each output
// (i, j) is the maximum over the region rows [a_i, a_{i+1} + overlap) x cols [b_j, b_{j+1} + overlap)
// of its plane, the region starts a, b given per sample (ops/fractional_pool.h draws them). Raw
// pointers in, no allocation, no autograd. Reference twins: backend/ref/fractional_pool.h.
#pragma once
#include <cstdint>

namespace cvtrain {

struct FractionalPool2dShape {
  int64_t N, C, H, W, OH, OW;
  int64_t overlap;  // 1: overlapping regions [a_i, a_{i+1}] (a_OH = H-1); 0: disjoint [a_i, a_{i+1}) (a_OH = H)
};

}  // namespace cvtrain

namespace cvtrain::cpu {

// x: (N,C,H,W), rows: (N,OH+1), cols: (N,OW+1) -> y, argmax: (N,C,OH,OW); argmax = h*W+w of the
// maximum within its plane (NaN wins, as max_pool2d).
void fractional_max_pool2d_forward(const float* x, const int32_t* rows, const int32_t* cols, float* y,
                                   int32_t* argmax, const FractionalPool2dShape& s);
// dy, argmax: (N,C,OH,OW) -> dx: (N,C,H,W) (fully written; overlapping regions may share a maximum: summed)
void fractional_max_pool2d_backward(const float* dy, const int32_t* argmax, float* dx, const FractionalPool2dShape& s);

}  // namespace cvtrain::cpu
