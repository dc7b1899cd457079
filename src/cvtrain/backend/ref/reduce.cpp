// Reference reductions: an odometer walk over the input, each element added into its output slot.
#include "cvtrain/backend/ref/reduce.h"

#include <cmath>
#include <vector>

namespace cvtrain::ref {

namespace {
// Calls f(i, j) for every input element i (row-major) with j its index among the kept dimensions.
template <class F>
void for_each_input(const int64_t* shape, const uint8_t* reduce, int64_t ndim, F&& f) {
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  std::vector<int64_t> idx(ndim, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = 0;
    for (int64_t d = 0; d < ndim; ++d)
      if (!reduce[d]) j = j * shape[d] + idx[d];
    f(i, j);
    for (int64_t d = ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}
}  // namespace

template <class T>
void sum_forward(const T* x, const int64_t* shape, const uint8_t* reduce, int64_t ndim, T scale, T* y) {
  int64_t m = 1;
  for (int64_t d = 0; d < ndim; ++d)
    if (!reduce[d]) m *= shape[d];
  for (int64_t j = 0; j < m; ++j) y[j] = 0;
  for_each_input(shape, reduce, ndim, [&](int64_t i, int64_t j) { y[j] += x[i]; });
  for (int64_t j = 0; j < m; ++j) y[j] *= scale;
}

template <class T>
void sum_backward(const T* dy, const int64_t* shape, const uint8_t* reduce, int64_t ndim, T scale, T* dx) {
  for_each_input(shape, reduce, ndim, [&](int64_t i, int64_t j) { dx[i] = scale * dy[j]; });
}

template <class T>
void max_forward(const T* x, int64_t outer, int64_t n, int64_t inner, T* y, int64_t* argmax) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < inner; ++k) {
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i) {
        T v = x[(o * n + i) * inner + k], b = x[(o * n + best) * inner + k];
        if (v > b || (std::isnan(v) && !std::isnan(b))) best = i;
      }
      y[o * inner + k] = x[(o * n + best) * inner + k];
      argmax[o * inner + k] = best;
    }
}

template <class T>
void max_backward(const T* dy, const int64_t* argmax, int64_t outer, int64_t n, int64_t inner, T* dx) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k)
        dx[(o * n + i) * inner + k] = argmax[o * inner + k] == i ? dy[o * inner + k] : T(0);
}

template void sum_forward<float>(const float*, const int64_t*, const uint8_t*, int64_t, float, float*);
template void sum_forward<double>(const double*, const int64_t*, const uint8_t*, int64_t, double, double*);
template void sum_backward<float>(const float*, const int64_t*, const uint8_t*, int64_t, float, float*);
template void sum_backward<double>(const double*, const int64_t*, const uint8_t*, int64_t, double, double*);
template void max_forward<float>(const float*, int64_t, int64_t, int64_t, float*, int64_t*);
template void max_forward<double>(const double*, int64_t, int64_t, int64_t, double*, int64_t*);
template void max_backward<float>(const float*, const int64_t*, int64_t, int64_t, int64_t, float*);
template void max_backward<double>(const double*, const int64_t*, int64_t, int64_t, int64_t, double*);

}  // namespace cvtrain::ref
