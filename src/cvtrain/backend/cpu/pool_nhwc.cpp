// Channels-last pooling kernels (pool_nhwc.h): per output pixel, the window's input pixels are rows
// of C channels, compared or summed a vector of channels at a time. Templates on the activations'
// storage T (float or bf16), compared and summed in float (load_f32), stored with store_as<T>.
#include "cvtrain/backend/cpu/pool_nhwc.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

namespace cvtrain::cpu {

using cvtrain::bf16;

namespace {
constexpr int64_t kParallelMin = 16384;
}

namespace {
// The elements as moved without arithmetic: floats, or bf16's bits as uint16 (a select on the struct
// vectorizes badly)
static_assert(sizeof(bf16) == sizeof(uint16_t));
inline float* raw(float* p) { return p; }
inline const float* raw(const float* p) { return p; }
inline uint16_t* raw(bf16* p) { return reinterpret_cast<uint16_t*>(p); }
inline const uint16_t* raw(const bf16* p) { return reinterpret_cast<const uint16_t*>(p); }

// 2x2 windows at stride 2, no padding: the four input rows of C channels compared in window order,
// 32 or 16 channels at a time when C allows (fixed-width loops gcc turns into whole AVX-512 vectors with
// masked selects; the generic loop vectorized poorly). NOTE: measured, 1 thread, cold cache, CNN
// pool1 (32 channels, 28x28, batch 128): 1.24 -> 1.11 ms; pool2 (64, 14x14): 0.59 -> 0.50 ms.
template <int64_t kW, class T>
inline void window_2x2(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2,
                       const T* __restrict x3, int32_t k0, int32_t k2, T* __restrict yr, int32_t* __restrict ar,
                       int64_t n) {
  const int64_t len = kW > 0 ? kW : n;
  const auto *b0 = raw(x0), *b1 = raw(x1), *b2 = raw(x2), *b3 = raw(x3);  // the maximum is moved, not rounded
  auto* __restrict yb = raw(yr);
#pragma omp simd
  for (int64_t c = 0; c < len; ++c) {
    float m = load_f32(x0[c]);
    auto mb = b0[c];
    int32_t k = k0;
    const float v1 = load_f32(x1[c]), v2 = load_f32(x2[c]), v3 = load_f32(x3[c]);
    const bool t1 = v1 > m || v1 != v1;  // as PyTorch: NaN wins
    m = t1 ? v1 : m, k = t1 ? k0 + 1 : k, mb = t1 ? b1[c] : mb;
    const bool t2 = v2 > m || v2 != v2;
    m = t2 ? v2 : m, k = t2 ? k2 : k, mb = t2 ? b2[c] : mb;
    const bool t3 = v3 > m || v3 != v3;
    k = t3 ? k2 + 1 : k, mb = t3 ? b3[c] : mb;
    yb[c] = mb;
    ar[c] = k;
  }
}
template <class T>
void max_pool_2x2_nhwc(const T* x, T* y, int32_t* argmax, const Pool2dShape& s) {
  const int64_t C = s.C;
#pragma omp parallel for schedule(static) if (s.N * s.C * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < s.N * s.OH; ++p) {
    const int64_t n = p / s.OH, oh = p % s.OH, h = 2 * oh;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t w = 2 * ow;
      const T* x0 = x + ((n * s.H + h) * s.W + w) * C;
      const T* x2 = x0 + s.W * C;
      const int32_t k0 = static_cast<int32_t>(h * s.W + w), k2 = static_cast<int32_t>(k0 + s.W);
      T* yr = y + (p * s.OW + ow) * C;
      int32_t* ar = argmax + (p * s.OW + ow) * C;
      if (C % 32 == 0) {  // NOTE: measured, 1 thread, CNN pool1: float 0.32 -> 0.26 ms, bf16 0.40 -> 0.18 (hot)
        for (int64_t c0 = 0; c0 < C; c0 += 32)
          window_2x2<32>(x0 + c0, x0 + C + c0, x2 + c0, x2 + C + c0, k0, k2, yr + c0, ar + c0, 32);
      } else if (C % 16 == 0) {
        for (int64_t c0 = 0; c0 < C; c0 += 16)
          window_2x2<16>(x0 + c0, x0 + C + c0, x2 + c0, x2 + C + c0, k0, k2, yr + c0, ar + c0, 16);
      } else {
        window_2x2<0>(x0, x0 + C, x2, x2 + C, k0, k2, yr, ar, C);
      }
    }
  }
}
}  // namespace

template <class T>
void max_pool2d_forward_nhwc(const T* x, std::type_identity_t<T>* y, int32_t* argmax, const Pool2dShape& s) {
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
      T* __restrict yr = y + (p * s.OW + ow) * C;
      int32_t* __restrict ar = argmax + (p * s.OW + ow) * C;
      const T* first = x + ((n * s.H + h0) * s.W + w0) * C;
      const int32_t k0 = static_cast<int32_t>(h0 * s.W + w0);
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = first[c], ar[c] = k0;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          if (h == h0 && w == w0) continue;
          const T* __restrict xr = x + ((n * s.H + h) * s.W + w) * C;
          const int32_t k = static_cast<int32_t>(h * s.W + w);
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const float v = load_f32(xr[c]);
            const bool take = v > load_f32(yr[c]) || v != v;  // as PyTorch: NaN wins
            yr[c] = take ? xr[c] : yr[c];
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
// one output pixel's C gradients to the four input pixels of its window (the argmax one, else 0)
template <int64_t kW, class E>
[[gnu::always_inline]] inline void scatter_2x2(const E* __restrict g, const int32_t* __restrict a, int32_t k0,
                                               int32_t k2, E* __restrict d0, E* __restrict d1, E* __restrict d2,
                                               E* __restrict d3, int64_t n) {
  const int64_t len = kW > 0 ? kW : n;
#pragma omp simd
  for (int64_t c = 0; c < len; ++c) {
    const E v = g[c];
    const int32_t k = a[c];
    d0[c] = k == k0 ? v : E{0};
    d1[c] = k == k0 + 1 ? v : E{0};
    d2[c] = k == k2 ? v : E{0};
    d3[c] = k == k2 + 1 ? v : E{0};
  }
}
template <class T>
void max_pool_2x2_backward_nhwc(const T* dy, const int32_t* argmax, T* dx, const Pool2dShape& s) {
  const int64_t C = s.C;
  const T zero = store_as<T>(0.0f);
#pragma omp parallel for schedule(static) if (s.N * s.C * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < s.N * s.OH; ++p) {
    const int64_t n = p / s.OH, oh = p % s.OH, h = 2 * oh;
    T* row0 = dx + (n * s.H + h) * s.W * C;
    T* row1 = row0 + s.W * C;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t w = 2 * ow;
      const int32_t k0 = static_cast<int32_t>(h * s.W + w), k2 = static_cast<int32_t>(k0 + s.W);
      const T* __restrict g = dy + (p * s.OW + ow) * C;
      const int32_t* __restrict a = argmax + (p * s.OW + ow) * C;
      T* __restrict d0 = row0 + w * C;
      T* __restrict d1 = d0 + C;
      T* __restrict d2 = row1 + w * C;
      T* __restrict d3 = d2 + C;
      if constexpr (std::is_same_v<T, bf16>) {
        if (C % 32 == 0) {  // NOTE: measured, CNN pool1, 1 thread: 32 at a time 0.17 -> 0.14 ms over 16 (hot)
          for (int64_t c0 = 0; c0 < C; c0 += 32)
            scatter_2x2<32>(raw(g + c0), a + c0, k0, k2, raw(d0 + c0), raw(d1 + c0), raw(d2 + c0), raw(d3 + c0), 32);
        } else if (C % 16 == 0) {
          for (int64_t c0 = 0; c0 < C; c0 += 16)
            scatter_2x2<16>(raw(g + c0), a + c0, k0, k2, raw(d0 + c0), raw(d1 + c0), raw(d2 + c0), raw(d3 + c0), 16);
        } else {
          scatter_2x2<0>(raw(g), a, k0, k2, raw(d0), raw(d1), raw(d2), raw(d3), C);
        }
      } else {  // float: this loop measured 20% faster than scatter_2x2<16>; <32>: 15% slower hot, 25% faster cold
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
    }
    if (2 * s.OW < s.W) {  // the last, odd column is in no window
      std::fill_n(row0 + 2 * s.OW * C, C, zero);
      std::fill_n(row1 + 2 * s.OW * C, C, zero);
    }
    if (oh == s.OH - 1 && 2 * s.OH < s.H) std::fill_n(row1 + s.W * C, s.W * C, zero);  // the last, odd row
  }
}
}  // namespace

template <class T>
void max_pool2d_backward_nhwc(const T* dy, const int32_t* argmax, std::type_identity_t<T>* dx, const Pool2dShape& s) {
  if (s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PH == 0 && s.PW == 0) {
    max_pool_2x2_backward_nhwc(dy, argmax, dx, s);
    return;
  }
  const int64_t C = s.C, in = s.H * s.W * C, out = s.OH * s.OW * C;
#pragma omp parallel for schedule(static) if (s.N * in > kParallelMin)
  for (int64_t n = 0; n < s.N; ++n) {
    T* dxn = dx + n * in;
    const T* dyn = dy + n * out;
    const int32_t* an = argmax + n * out;
    if constexpr (std::is_same_v<T, float>) {
      std::memset(dxn, 0, static_cast<size_t>(in) * sizeof(float));
      for (int64_t o = 0; o < s.OH * s.OW; ++o)
        for (int64_t c = 0; c < C; ++c) dxn[an[o * C + c] * C + c] += dyn[o * C + c];
    } else {  // overlapping windows add up: in a float plane (allocated: rare shapes only), rounded once
      std::vector<float> acc(static_cast<size_t>(in), 0.0f);
      for (int64_t o = 0; o < s.OH * s.OW; ++o)
        for (int64_t c = 0; c < C; ++c) acc[an[o * C + c] * C + c] += load_f32(dyn[o * C + c]);
      for (int64_t i = 0; i < in; ++i) dxn[i] = store_as<T>(acc[i]);
    }
  }
}

template <class T>
void global_avg_pool2d_forward_nhwc(const T* x, float* y, int64_t N, int64_t C, int64_t HW) {
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    float* __restrict yr = y + n * C;
    std::fill_n(yr, C, 0.0f);
    for (int64_t i = 0; i < HW; ++i) {
      const T* __restrict xr = x + (n * HW + i) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] += load_f32(xr[c]);
    }
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
  }
}

template <class T>
void global_avg_pool2d_backward_nhwc(const float* dy, T* dx, int64_t N, int64_t C, int64_t HW) {
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      T* __restrict dxr = dx + (n * HW + i) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dxr[c] = store_as<T>(dy[n * C + c] * inv);
    }
}

#define CVTRAIN_POOL_NHWC(T)                                                                                  \
  template void max_pool2d_forward_nhwc<T>(const T*, T*, int32_t*, const Pool2dShape&);                       \
  template void max_pool2d_backward_nhwc<T>(const T*, const int32_t*, T*, const Pool2dShape&);                \
  template void global_avg_pool2d_forward_nhwc<T>(const T*, float*, int64_t, int64_t, int64_t);              \
  template void global_avg_pool2d_backward_nhwc<T>(const float*, T*, int64_t, int64_t, int64_t);
CVTRAIN_POOL_NHWC(float)
CVTRAIN_POOL_NHWC(bf16)
#undef CVTRAIN_POOL_NHWC

}  // namespace cvtrain::cpu
