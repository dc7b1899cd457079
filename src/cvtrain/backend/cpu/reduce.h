// Reduction kernels: sums over any set of dimensions of a packed tensor (with a scale, so mean is the
// same kernel) and the max over one dimension with its first arg-max. Raw pointers in, no autograd,
// no allocation beyond dimension counters; parallel loops are split by output, so results do not
// depend on scheduling. Plain-loop twins with the same signatures are in backend/ref/reduce.h.
#pragma once
#include <cstdint>

namespace cvtrain::cpu {

// x: (shape) packed, ndim dims; reduce: (ndim) nonzero for the summed dimensions.
// y: the kept dimensions in order, packed:  y = scale * sum over the reduced dimensions of x.
void sum_forward(const float* x, const int64_t* shape, const uint8_t* reduce, int64_t ndim, float scale, float* y);
// dy: the kept dimensions, packed -> dx: (shape) packed;  dx[i] = scale * dy[i with reduced dims dropped].
void sum_backward(const float* dy, const int64_t* shape, const uint8_t* reduce, int64_t ndim, float scale,
                  float* dx);

// x: (outer, n, inner) packed, n >= 1 -> y, argmax: (outer, inner). The first maximal element wins;
// a NaN counts as maximal (the first NaN wins), as in PyTorch.
void max_forward(const float* x, int64_t outer, int64_t n, int64_t inner, float* y, int64_t* argmax);
// dy, argmax: (outer, inner) -> dx: (outer, n, inner), dy at the arg-max, zero elsewhere.
void max_backward(const float* dy, const int64_t* argmax, int64_t outer, int64_t n, int64_t inner, float* dx);

}  // namespace cvtrain::cpu
