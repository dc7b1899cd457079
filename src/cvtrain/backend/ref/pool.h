// Reference pooling kernels: the plainest loops over every output and window element, templated
// on the scalar so tests can check the backward by finite differences in double. Not fast; the
// library runs backend/cpu/pool.h, which tests hold against these.
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/pool.h"  // Pool2dShape

namespace cvtrain::ref {

// x: (N,C,H,W) -> y, argmax: (N,C,OH,OW); argmax = h*W+w of the maximum within its plane.
template <class T>
void max_pool2d_forward(const T* x, T* y, int32_t* argmax, const Pool2dShape& s);
// dy, argmax: (N,C,OH,OW) -> dx: (N,C,H,W)
template <class T>
void max_pool2d_backward(const T* dy, const int32_t* argmax, T* dx, const Pool2dShape& s);

// x: (N,C,H,W) -> y: (N,C,OH,OW), count_include_pad=True
template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s);
// dy: (N,C,OH,OW) -> dx: (N,C,H,W)
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s);

// x: (P,HW) -> y: (P)
template <class T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t P, int64_t HW);
// dy: (P) -> dx: (P,HW)
template <class T>
void global_avg_pool2d_backward(const T* dy, T* dx, int64_t P, int64_t HW);

}  // namespace cvtrain::ref
