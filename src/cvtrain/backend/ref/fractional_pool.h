// Reference fractional max pooling kernels: every output's region scanned in plain loops, templated on
// the scalar so tests can check the backward by finite differences in double. Not fast; tests hold
// backend/cpu/fractional_pool.h against these.
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/fractional_pool.h"  // FractionalPool2dShape

namespace cvtrain::ref {

// x: (N,C,H,W), rows: (N,OH+1), cols: (N,OW+1) -> y, argmax: (N,C,OH,OW)
template <class T>
void fractional_max_pool2d_forward(const T* x, const int32_t* rows, const int32_t* cols, T* y, int32_t* argmax,
                                   const FractionalPool2dShape& s);
// dy, argmax: (N,C,OH,OW) -> dx: (N,C,H,W)
template <class T>
void fractional_max_pool2d_backward(const T* dy, const int32_t* argmax, T* dx, const FractionalPool2dShape& s);

}  // namespace cvtrain::ref
