#include "cvtrain/backend/ref/fractional_pool.h"

#include <algorithm>
#include <cmath>

namespace cvtrain::ref {

template <class T>
void fractional_max_pool2d_forward(const T* x, const int32_t* rows, const int32_t* cols, T* y, int32_t* argmax,
                                   const FractionalPool2dShape& s) {
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t i = 0; i < s.OH; ++i)
        for (int64_t j = 0; j < s.OW; ++j) {
          T best = T(0);
          int64_t best_i = -1;
          for (int64_t h = rows[n * (s.OH + 1) + i]; h < rows[n * (s.OH + 1) + i + 1] + s.overlap; ++h)
            for (int64_t w = cols[n * (s.OW + 1) + j]; w < cols[n * (s.OW + 1) + j + 1] + s.overlap; ++w) {
              T v = x[((n * s.C + c) * s.H + h) * s.W + w];
              if (best_i < 0 || v > best || (std::isnan(v) && !std::isnan(best))) best = v, best_i = h * s.W + w;
            }
          const int64_t o = ((n * s.C + c) * s.OH + i) * s.OW + j;
          y[o] = best;
          argmax[o] = static_cast<int32_t>(best_i);
        }
}

template <class T>
void fractional_max_pool2d_backward(const T* dy, const int32_t* argmax, T* dx, const FractionalPool2dShape& s) {
  std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t o = 0; o < s.OH * s.OW; ++o) dx[p * s.H * s.W + argmax[p * s.OH * s.OW + o]] += dy[p * s.OH * s.OW + o];
}

#define CVTRAIN_INSTANTIATE(T)                                                                                   \
  template void fractional_max_pool2d_forward<T>(const T*, const int32_t*, const int32_t*, T*, int32_t*,          \
                                                 const FractionalPool2dShape&);                                  \
  template void fractional_max_pool2d_backward<T>(const T*, const int32_t*, T*, const FractionalPool2dShape&);
CVTRAIN_INSTANTIATE(float)
CVTRAIN_INSTANTIATE(double)
#undef CVTRAIN_INSTANTIATE

}  // namespace cvtrain::ref
