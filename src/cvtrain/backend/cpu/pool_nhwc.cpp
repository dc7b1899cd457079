// Channels-last pooling kernels (pool_nhwc.h): per output pixel, the window's input pixels are rows
// of C channels, compared or summed a vector of channels at a time.
#include "cvtrain/backend/cpu/pool_nhwc.h"

#include <algorithm>
#include <cstring>

namespace cvtrain::cpu {

namespace {
constexpr int64_t kParallelMin = 16384;
}

namespace {
// 2x2 windows at stride 2, no padding: the four input rows of C channels compared in window order,
// 16 channels at a time when C allows (fixed-width loops gcc turns into whole AVX-512 vectors with
// masked selects; the generic loop vectorized poorly). NOTE: measured, 1 thread, cold cache, CNN
// pool1 (32 channels, 28x28, batch 128): 1.24 -> 1.11 ms; pool2 (64, 14x14): 0.59 -> 0.50 ms.
template <int64_t kW>
inline void window_2x2(const float* __restrict x0, const float* __restrict x1, const float* __restrict x2,
                       const float* __restrict x3, int32_t k0, int32_t k2, float* __restrict yr,
                       int32_t* __restrict ar, int64_t n) {
  const int64_t len = kW > 0 ? kW : n;
#pragma omp simd
  for (int64_t c = 0; c < len; ++c) {
    float m = x0[c];
    int32_t k = k0;
    const float v1 = x1[c], v2 = x2[c], v3 = x3[c];
    const bool t1 = v1 > m || v1 != v1;  // as PyTorch: NaN wins
    m = t1 ? v1 : m, k = t1 ? k0 + 1 : k;
    const bool t2 = v2 > m || v2 != v2;
    m = t2 ? v2 : m, k = t2 ? k2 : k;
    const bool t3 = v3 > m || v3 != v3;
    m = t3 ? v3 : m, k = t3 ? k2 + 1 : k;
    yr[c] = m;
    ar[c] = k;
  }
}
void max_pool_2x2_nhwc(const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  const int64_t C = s.C;
#pragma omp parallel for schedule(static) if (s.N * s.C * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < s.N * s.OH; ++p) {
    const int64_t n = p / s.OH, oh = p % s.OH, h = 2 * oh;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t w = 2 * ow;
      const float* x0 = x + ((n * s.H + h) * s.W + w) * C;
      const float* x2 = x0 + s.W * C;
      const int32_t k0 = static_cast<int32_t>(h * s.W + w), k2 = static_cast<int32_t>(k0 + s.W);
      float* yr = y + (p * s.OW + ow) * C;
      int32_t* ar = argmax + (p * s.OW + ow) * C;
      if (C % 16 == 0) {
        for (int64_t c0 = 0; c0 < C; c0 += 16)
          window_2x2<16>(x0 + c0, x0 + C + c0, x2 + c0, x2 + C + c0, k0, k2, yr + c0, ar + c0, 16);
      } else {
        window_2x2<0>(x0, x0 + C, x2, x2 + C, k0, k2, yr, ar, C);
      }
    }
  }
}
}  // namespace

void max_pool2d_forward_nhwc(const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  if (s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PH == 0 && s.PW == 0) {
    max_pool_2x2_nhwc(x, y, argmax, s);
    return;
  }
  const int64_t C = s.C;
#pragma omp parallel for schedule(static) if (s.N * s.C * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < s.N * s.OH; ++p) {
    const int64_t n = p / s.OH, oh = p % s.OH;
    const int64_t hs = oh * s.SH - s.PH, h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + s.KH, s.H);
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t ws = ow * s.SW - s.PW, w0 = std::max<int64_t>(ws, 0), w1 = std::min(ws + s.KW, s.W);
      float* __restrict yr = y + (p * s.OW + ow) * C;
      int32_t* __restrict ar = argmax + (p * s.OW + ow) * C;
      const float* first = x + ((n * s.H + h0) * s.W + w0) * C;
      const int32_t k0 = static_cast<int32_t>(h0 * s.W + w0);
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = first[c], ar[c] = k0;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          if (h == h0 && w == w0) continue;
          const float* __restrict xr = x + ((n * s.H + h) * s.W + w) * C;
          const int32_t k = static_cast<int32_t>(h * s.W + w);
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const float v = xr[c];
            const bool take = v > yr[c] || v != v;  // as PyTorch: NaN wins
            yr[c] = take ? v : yr[c];
            ar[c] = take ? k : ar[c];
          }
        }
    }
  }
}

namespace {
// 2x2 windows at stride 2, no padding: the windows tile the input (but for a last odd row or column,
// which gets zeros), so dx is written once, densely, with no memset and no scatter. NOTE: measured,
// 1 thread, cold cache: CNN pool1 0.88 -> 0.78 ms, pool2 0.43 -> 0.36 ms (hot: 0.47 -> 0.25, 0.22 -> 0.09)
void max_pool_2x2_backward_nhwc(const float* dy, const int32_t* argmax, float* dx, const Pool2dShape& s) {
  const int64_t C = s.C;
#pragma omp parallel for schedule(static) if (s.N * s.C * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < s.N * s.OH; ++p) {
    const int64_t n = p / s.OH, oh = p % s.OH, h = 2 * oh;
    float* row0 = dx + (n * s.H + h) * s.W * C;
    float* row1 = row0 + s.W * C;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t w = 2 * ow;
      const int32_t k0 = static_cast<int32_t>(h * s.W + w), k2 = static_cast<int32_t>(k0 + s.W);
      const float* __restrict g = dy + (p * s.OW + ow) * C;
      const int32_t* __restrict a = argmax + (p * s.OW + ow) * C;
      float* __restrict d0 = row0 + w * C;
      float* __restrict d1 = d0 + C;
      float* __restrict d2 = row1 + w * C;
      float* __restrict d3 = d2 + C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float v = g[c];
        const int32_t k = a[c];
        d0[c] = k == k0 ? v : 0.0f;
        d1[c] = k == k0 + 1 ? v : 0.0f;
        d2[c] = k == k2 ? v : 0.0f;
        d3[c] = k == k2 + 1 ? v : 0.0f;
      }
    }
    if (2 * s.OW < s.W) {  // the last, odd column is in no window
      std::fill_n(row0 + 2 * s.OW * C, C, 0.0f);
      std::fill_n(row1 + 2 * s.OW * C, C, 0.0f);
    }
    if (oh == s.OH - 1 && 2 * s.OH < s.H) std::fill_n(row1 + s.W * C, s.W * C, 0.0f);  // the last, odd row
  }
}
}  // namespace

void max_pool2d_backward_nhwc(const float* dy, const int32_t* argmax, float* dx, const Pool2dShape& s) {
  if (s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PH == 0 && s.PW == 0) {
    max_pool_2x2_backward_nhwc(dy, argmax, dx, s);
    return;
  }
  const int64_t C = s.C, in = s.H * s.W * C, out = s.OH * s.OW * C;
#pragma omp parallel for schedule(static) if (s.N * in > kParallelMin)
  for (int64_t n = 0; n < s.N; ++n) {
    float* dxn = dx + n * in;
    std::memset(dxn, 0, static_cast<size_t>(in) * sizeof(float));
    const float* dyn = dy + n * out;
    const int32_t* an = argmax + n * out;
    for (int64_t o = 0; o < s.OH * s.OW; ++o)
      for (int64_t c = 0; c < C; ++c) dxn[an[o * C + c] * C + c] += dyn[o * C + c];
  }
}

void global_avg_pool2d_forward_nhwc(const float* x, float* y, int64_t N, int64_t C, int64_t HW) {
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    float* __restrict yr = y + n * C;
    std::fill_n(yr, C, 0.0f);
    for (int64_t i = 0; i < HW; ++i) {
      const float* __restrict xr = x + (n * HW + i) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] += xr[c];
    }
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
  }
}

void global_avg_pool2d_backward_nhwc(const float* dy, float* dx, int64_t N, int64_t C, int64_t HW) {
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      float* __restrict dxr = dx + (n * HW + i) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dxr[c] = dy[n * C + c] * inv;
    }
}

}  // namespace cvtrain::cpu
