// Fractional max pooling kernels: one OpenMP task per (n, c) plane, so planes never share output.
#include "cvtrain/backend/cpu/fractional_pool.h"

#include <algorithm>
#include <cmath>

namespace cvtrain::cpu {

void fractional_max_pool2d_forward(const float* x, const int32_t* rows, const int32_t* cols, float* y,
                                   int32_t* argmax, const FractionalPool2dShape& s) {
  const int64_t planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (planes * s.H * s.W > 32768)
  for (int64_t p = 0; p < planes; ++p) {
    const int64_t n = p / s.C;
    const int32_t* a = rows + n * (s.OH + 1);
    const int32_t* b = cols + n * (s.OW + 1);
    const float* xp = x + p * s.H * s.W;
    float* yp = y + p * s.OH * s.OW;
    int32_t* ap = argmax + p * s.OH * s.OW;
    for (int64_t i = 0; i < s.OH; ++i) {
      const int64_t h0 = a[i], h1 = a[i + 1] + s.overlap;
      for (int64_t j = 0; j < s.OW; ++j) {
        const int64_t w0 = b[j], w1 = b[j + 1] + s.overlap;
        int64_t best_i = h0 * s.W + w0;
        float best = xp[best_i];
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const float v = xp[h * s.W + w];
            if (v > best || (std::isnan(v) && !std::isnan(best))) best = v, best_i = h * s.W + w;
          }
        yp[i * s.OW + j] = best;
        ap[i * s.OW + j] = static_cast<int32_t>(best_i);
      }
    }
  }
}

void fractional_max_pool2d_backward(const float* dy, const int32_t* argmax, float* dx,
                                    const FractionalPool2dShape& s) {
  const int64_t planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (planes * s.H * s.W > 32768)
  for (int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * s.H * s.W;
    std::fill(dxp, dxp + s.H * s.W, 0.0f);
    for (int64_t o = 0; o < s.OH * s.OW; ++o) dxp[argmax[p * s.OH * s.OW + o]] += dy[p * s.OH * s.OW + o];
  }
}

}  // namespace cvtrain::cpu
