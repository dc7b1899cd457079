// The reference activations, one element at a time, instantiated for float and double.
#include "cvtrain/backend/ref/activation.h"

#include <cmath>

namespace cvtrain::ref {

namespace {
template <class T>
T sigmoid(T x) {  // both branches finite for any x
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}
template <class T>
T pi() {
  return T(3.14159265358979323846);
}
}  // namespace

template <class T>
void sigmoid_forward(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
}
template <class T>
void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}
template <class T>
void tanh_forward(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}
template <class T>
void leaky_relu_forward(const T* x, T* y, int64_t n, T slope) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : slope * x[i];
}
template <class T>
void leaky_relu_backward(const T* x, const T* dy, T* dx, int64_t n, T slope) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0 ? dy[i] : slope * dy[i];
}
template <class T>
void elu_forward(const T* x, T* y, int64_t n, T alpha, T scale) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? scale * x[i] : scale * alpha * std::expm1(x[i]);
}
template <class T>
void elu_backward(const T* x, const T* dy, T* dx, int64_t n, T alpha, T scale) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0 ? dy[i] * scale : dy[i] * scale * alpha * std::exp(x[i]);
}
template <class T>
void gelu_forward(const T* x, T* y, int64_t n, bool approximate_tanh) {
  const T k = std::sqrt(T(2) / pi<T>());
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    y[i] = approximate_tanh ? T(0.5) * v * (T(1) + std::tanh(k * (v + T(0.044715) * v * v * v)))
                            : T(0.5) * v * (T(1) + std::erf(v / std::sqrt(T(2))));
  }
}
template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n, bool approximate_tanh) {
  const T k = std::sqrt(T(2) / pi<T>());
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    T d;
    if (approximate_tanh) {
      const T t = std::tanh(k * (v + T(0.044715) * v * v * v));
      d = T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * k * (T(1) + T(3) * T(0.044715) * v * v);
    } else {  // Phi(v) + v * phi(v)
      d = T(0.5) * (T(1) + std::erf(v / std::sqrt(T(2)))) + v * std::exp(-v * v / 2) / std::sqrt(2 * pi<T>());
    }
    dx[i] = dy[i] * d;
  }
}
template <class T>
void silu_forward(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid(x[i]);
}
template <class T>
void silu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T s = sigmoid(x[i]);
    dx[i] = dy[i] * (s + x[i] * s * (T(1) - s));
  }
}
template <class T>
void prelu_forward(const T* x, const T* w, T* y, int64_t outer, int64_t C, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = (o * C + c) * inner + i;
        y[k] = x[k] > 0 ? x[k] : w[c] * x[k];
      }
}
template <class T>
void prelu_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, int64_t outer, int64_t C, int64_t inner) {
  for (int64_t c = 0; c < C; ++c) dw[c] = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = (o * C + c) * inner + i;
        dx[k] = x[k] > 0 ? dy[k] : w[c] * dy[k];
        if (!(x[k] > 0)) dw[c] += dy[k] * x[k];
      }
}

#define CVTRAIN_INSTANTIATE(T)                                                                           \
  template void sigmoid_forward<T>(const T*, T*, int64_t);                                               \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);                                    \
  template void tanh_forward<T>(const T*, T*, int64_t);                                                  \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t);                                       \
  template void leaky_relu_forward<T>(const T*, T*, int64_t, T);                                         \
  template void leaky_relu_backward<T>(const T*, const T*, T*, int64_t, T);                              \
  template void elu_forward<T>(const T*, T*, int64_t, T, T);                                             \
  template void elu_backward<T>(const T*, const T*, T*, int64_t, T, T);                                  \
  template void gelu_forward<T>(const T*, T*, int64_t, bool);                                            \
  template void gelu_backward<T>(const T*, const T*, T*, int64_t, bool);                                 \
  template void silu_forward<T>(const T*, T*, int64_t);                                                  \
  template void silu_backward<T>(const T*, const T*, T*, int64_t);                                       \
  template void prelu_forward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t);                     \
  template void prelu_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t, int64_t);
CVTRAIN_INSTANTIATE(float)
CVTRAIN_INSTANTIATE(double)
#undef CVTRAIN_INSTANTIATE

}  // namespace cvtrain::ref
