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
// 2x2 windows at stride 2, no padding: the four input rows of C channels compared in window order
void max_pool_2x2_nhwc(const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  const int64_t C = s.C;
#pragma omp parallel for schedule(static) if (s.N * s.C * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < s.N * s.OH; ++p) {
    const int64_t n = p / s.OH, oh = p % s.OH, h = 2 * oh;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t w = 2 * ow;
      const float* __restrict x0 = x + ((n * s.H + h) * s.W + w) * C;
      const float* __restrict x1 = x0 + C;
      const float* __restrict x2 = x0 + s.W * C;
      const float* __restrict x3 = x2 + C;
      const int32_t k0 = static_cast<int32_t>(h * s.W + w), k2 = static_cast<int32_t>(k0 + s.W);
      float* __restrict yr = y + (p * s.OW + ow) * C;
      int32_t* __restrict ar = argmax + (p * s.OW + ow) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        float m = x0[c];
        int32_t k = k0;
        const float v1 = x1[c], v2 = x2[c], v3 = x3[c];
        if (v1 > m || v1 != v1) m = v1, k = k0 + 1;  // as PyTorch: NaN wins
        if (v2 > m || v2 != v2) m = v2, k = k2;
        if (v3 > m || v3 != v3) m = v3, k = k2 + 1;
        yr[c] = m;
        ar[c] = k;
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

void max_pool2d_backward_nhwc(const float* dy, const int32_t* argmax, float* dx, const Pool2dShape& s) {
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
