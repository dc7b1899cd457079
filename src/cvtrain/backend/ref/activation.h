// Reference activation kernels: the textbook formulas in plain loops, templated on the scalar so
// tests check each backward by finite differences in double and hold backend/cpu/activation.h
// against them. Not for the library's hot path. Signatures mirror the cpu twins.
#pragma once
#include <cstdint>

namespace cvtrain::ref {

// x, y: (n); dy, dx: (n). Backward inputs as in cpu:: (y for sigmoid and tanh, x for the rest).
template <class T> void sigmoid_forward(const T* x, T* y, int64_t n);
template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void tanh_forward(const T* x, T* y, int64_t n);
template <class T> void tanh_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void leaky_relu_forward(const T* x, T* y, int64_t n, T slope);
template <class T> void leaky_relu_backward(const T* x, const T* dy, T* dx, int64_t n, T slope);
template <class T> void elu_forward(const T* x, T* y, int64_t n, T alpha, T scale);
template <class T> void elu_backward(const T* x, const T* dy, T* dx, int64_t n, T alpha, T scale);
template <class T> void gelu_forward(const T* x, T* y, int64_t n, bool approximate_tanh);
template <class T> void gelu_backward(const T* x, const T* dy, T* dx, int64_t n, bool approximate_tanh);
template <class T> void silu_forward(const T* x, T* y, int64_t n);
template <class T> void silu_backward(const T* x, const T* dy, T* dx, int64_t n);
// x, y: (outer, C, inner), w: (C)
template <class T> void prelu_forward(const T* x, const T* w, T* y, int64_t outer, int64_t C, int64_t inner);
// dw: (C), overwritten
template <class T>
void prelu_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, int64_t outer, int64_t C, int64_t inner);

}  // namespace cvtrain::ref
