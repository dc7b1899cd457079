#include "cvtrain/backend/ref/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cvtrain::ref {

template <class T>
void max_pool2d_forward(const T* x, T* y, int32_t* argmax, const Pool2dShape& s) {
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_i = -1;
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            int64_t h = oh * s.SH - s.PH + kh, w = ow * s.SW - s.PW + kw;
            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
            T v = x[p * s.H * s.W + h * s.W + w];
            if (best_i < 0 || v > best || std::isnan(v)) best = v, best_i = h * s.W + w;  // as PyTorch: NaN wins
          }
        y[(p * s.OH + oh) * s.OW + ow] = best;
        argmax[(p * s.OH + oh) * s.OW + ow] = static_cast<int32_t>(best_i);
      }
}

template <class T>
void max_pool2d_backward(const T* dy, const int32_t* argmax, T* dx, const Pool2dShape& s) {
  std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t o = 0; o < s.OH * s.OW; ++o)
      dx[p * s.H * s.W + argmax[p * s.OH * s.OW + o]] += dy[p * s.OH * s.OW + o];
}

template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s) {
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        T sum = 0;
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            int64_t h = oh * s.SH - s.PH + kh, w = ow * s.SW - s.PW + kw;
            if (h >= 0 && h < s.H && w >= 0 && w < s.W) sum += x[p * s.H * s.W + h * s.W + w];
          }
        y[(p * s.OH + oh) * s.OW + ow] = sum / static_cast<T>(s.KH * s.KW);
      }
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s) {
  std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        T g = dy[(p * s.OH + oh) * s.OW + ow] / static_cast<T>(s.KH * s.KW);
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            int64_t h = oh * s.SH - s.PH + kh, w = ow * s.SW - s.PW + kw;
            if (h >= 0 && h < s.H && w >= 0 && w < s.W) dx[p * s.H * s.W + h * s.W + w] += g;
          }
      }
}

template <class T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t P, int64_t HW) {
  for (int64_t p = 0; p < P; ++p) {
    T sum = 0;
    for (int64_t i = 0; i < HW; ++i) sum += x[p * HW + i];
    y[p] = sum / static_cast<T>(HW);
  }
}

template <class T>
void global_avg_pool2d_backward(const T* dy, T* dx, int64_t P, int64_t HW) {
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < HW; ++i) dx[p * HW + i] = dy[p] / static_cast<T>(HW);
}

#define CVTRAIN_INSTANTIATE(T)                                                                   \
  template void max_pool2d_forward<T>(const T*, T*, int32_t*, const Pool2dShape&);               \
  template void max_pool2d_backward<T>(const T*, const int32_t*, T*, const Pool2dShape&);        \
  template void avg_pool2d_forward<T>(const T*, T*, const Pool2dShape&);                         \
  template void avg_pool2d_backward<T>(const T*, T*, const Pool2dShape&);                        \
  template void global_avg_pool2d_forward<T>(const T*, T*, int64_t, int64_t);                    \
  template void global_avg_pool2d_backward<T>(const T*, T*, int64_t, int64_t);
CVTRAIN_INSTANTIATE(float)
CVTRAIN_INSTANTIATE(double)
#undef CVTRAIN_INSTANTIATE

}  // namespace cvtrain::ref
