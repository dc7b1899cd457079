// Reference twins of backend/cpu/reduce.h: the same signatures and semantics as plain loops,
// templated on the scalar type (float and double instantiated) for finite-difference tests.
#pragma once
#include <cstdint>

namespace cvtrain::ref {

// See cpu::sum_forward / cpu::sum_backward.
template <class T>
void sum_forward(const T* x, const int64_t* shape, const uint8_t* reduce, int64_t ndim, T scale, T* y);
template <class T>
void sum_backward(const T* dy, const int64_t* shape, const uint8_t* reduce, int64_t ndim, T scale, T* dx);

// See cpu::max_forward / cpu::max_backward.
template <class T>
void max_forward(const T* x, int64_t outer, int64_t n, int64_t inner, T* y, int64_t* argmax);
template <class T>
void max_backward(const T* dy, const int64_t* argmax, int64_t outer, int64_t n, int64_t inner, T* dx);

}  // namespace cvtrain::ref
