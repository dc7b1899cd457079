// Fast pooling kernels: OpenMP over the N*C planes (each plane is written by one thread, so the
// result does not depend on the thread count), clipped window ranges instead of per-element bounds
// checks, and a two-stage vectorized kernel for the 2x2 stride-2 max pool of the common CNN.
#include "cvtrain/backend/cpu/pool.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "cvtrain/base/error.h"

namespace cvtrain {

Pool2dShape make_pool2d_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t SH,
                              int64_t SW, int64_t PH, int64_t PW) {
  CHECK(KH > 0 && KW > 0 && SH > 0 && SW > 0 && PH >= 0 && PW >= 0, "pool2d: kernel ", KH, "x", KW, ", stride ", SH,
        "x", SW, " must be positive and padding ", PH, "x", PW, " non-negative");
  CHECK(PH <= KH / 2 && PW <= KW / 2, "pool2d: padding ", PH, "x", PW, " exceeds half the kernel ", KH, "x", KW);
  CHECK(H + 2 * PH >= KH && W + 2 * PW >= KW, "pool2d: kernel ", KH, "x", KW, " larger than the padded input (", N,
        ",", C, ",", H, ",", W, ") with padding ", PH, "x", PW);
  CHECK(H * W <= std::numeric_limits<int32_t>::max(), "pool2d: plane ", H, "x", W, " too large for int32 argmax");
  return {N, C, H, W, KH, KW, SH, SW, PH, PW, (H + 2 * PH - KH) / SH + 1, (W + 2 * PW - KW) / SW + 1};
}

}  // namespace cvtrain

namespace cvtrain::cpu {

namespace {

constexpr int64_t kParallelMin = 16384;  // elements below which threads cost more than they save
constexpr int64_t kBuf = 2048;           // max_pool_2x2's column winners per block: 16 KiB, stays in L1
constexpr int64_t kPad = 16;             // its stage-1 rows rounded up to whole 512-bit vectors

// The window of output (oh, ow) clipped to the input: rows [h0,h1), columns [w0,w1).
struct Window {
  int64_t h0, h1, w0, w1;
};
inline Window window(const Pool2dShape& s, int64_t oh, int64_t ow) {
  const int64_t hs = oh * s.SH - s.PH, ws = ow * s.SW - s.PW;
  return {std::max<int64_t>(hs, 0), std::min(hs + s.KH, s.H), std::max<int64_t>(ws, 0), std::min(ws + s.KW, s.W)};
}

// One plane p of any geometry: the window clipped to the input, visited in row-major order.
void max_pool_general(const float* x, float* y, int32_t* argmax, const Pool2dShape& s, int64_t p) {
  const float* xp = x + p * s.H * s.W;
  for (int64_t oh = 0; oh < s.OH; ++oh)
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const Window r = window(s, oh, ow);
      float m = xp[r.h0 * s.W + r.w0];
      int64_t k = r.h0 * s.W + r.w0;
      for (int64_t h = r.h0; h < r.h1; ++h)
        for (int64_t w = r.w0; w < r.w1; ++w) {
          const float v = xp[h * s.W + w];
          if (v > m || v != v) m = v, k = h * s.W + w;  // as PyTorch: NaN wins
        }
      y[(p * s.OH + oh) * s.OW + ow] = m;
      argmax[(p * s.OH + oh) * s.OW + ow] = static_cast<int32_t>(k);
    }
}

// x: (P,H,W), 2x2 windows at stride 2, no padding. Two vectorized stages per block of row pairs:
// (1) down each column pair, keep the larger of rows 2oh and 2oh+1 and its plane index; (2) across
// neighbouring columns, flattened over the whole block so the loop is long even when OW is small.
// The winner is the reference's: the first maximum in row-major window order, or the last NaN.
// Row-major order is plane-index order, so ties and NaNs are settled by comparing indices.
void max_pool_2x2(const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  const int64_t P = s.N * s.C, H = s.H, W = s.W, OH = s.OH, OW = s.OW, total = P * H * W;
  const int64_t rows_per_block = kBuf / (2 * OW);  // >= 1: the caller checks 2*OW <= kBuf
  // Stage 1 runs whole vectors: it reads up to kPad-1 elements past the row pair (the next row,
  // still inside x) and writes the junk into the next row's slots, overwritten right after.
  const int64_t len_pad = (2 * OW + kPad - 1) / kPad * kPad;
#pragma omp parallel for schedule(static) if (total > kParallelMin)
  for (int64_t p = 0; p < P; ++p) {
    alignas(64) float colmax[kBuf + kPad];
    alignas(64) int32_t colarg[kBuf + kPad];
    const float* xp = x + p * H * W;
    for (int64_t oh0 = 0; oh0 < OH; oh0 += rows_per_block) {
      const int64_t oh1 = std::min(OH, oh0 + rows_per_block);
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const float* __restrict r0 = xp + 2 * oh * W;
        const float* __restrict r1 = r0 + W;
        float* __restrict m = colmax + (oh - oh0) * 2 * OW;
        int32_t* __restrict k = colarg + (oh - oh0) * 2 * OW;
        const int32_t i0 = static_cast<int32_t>(2 * oh * W), w1 = static_cast<int32_t>(W);
        const int64_t len = (r1 - x) + len_pad <= total ? len_pad : 2 * OW;  // no reading past x's end
#pragma omp simd
        for (int64_t w = 0; w < len; ++w) {
          const float a = r0[w], c = r1[w];
          const bool t = c > a || c != c;  // the lower row wins if greater or NaN
          m[w] = t ? c : a;
          k[w] = i0 + static_cast<int32_t>(w) + (t ? w1 : 0);
        }
      }
      const int64_t n = (oh1 - oh0) * OW;
      float* __restrict yb = y + p * OH * OW + oh0 * OW;
      int32_t* __restrict ab = argmax + p * OH * OW + oh0 * OW;
#pragma omp simd
      for (int64_t u = 0; u < n; ++u) {
        const float m0 = colmax[2 * u], m1 = colmax[2 * u + 1];
        const int32_t k0 = colarg[2 * u], k1 = colarg[2 * u + 1];
        const bool nan0 = m0 != m0, nan1 = m1 != m1;
        const bool right = nan1 ? (!nan0 || k1 > k0) : (!nan0 && (m1 > m0 || (m1 == m0 && k1 < k0)));
        yb[u] = right ? m1 : m0;
        ab[u] = right ? k1 : k0;
      }
    }
  }
}

}  // namespace

void max_pool2d_forward(const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  if (s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PH == 0 && s.PW == 0 && 2 * s.OW <= kBuf)
    return max_pool_2x2(x, y, argmax, s);
  const int64_t P = s.N * s.C;
#pragma omp parallel for schedule(static) if (P * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < P; ++p) max_pool_general(x, y, argmax, s, p);
}

void max_pool2d_backward(const float* dy, const int32_t* argmax, float* dx, const Pool2dShape& s) {
  const int64_t P = s.N * s.C, HW = s.H * s.W, OHW = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (P * HW > kParallelMin)
  for (int64_t p = 0; p < P; ++p) {
    float* dxp = dx + p * HW;
    std::memset(dxp, 0, static_cast<size_t>(HW) * sizeof(float));
    const float* dyp = dy + p * OHW;
    const int32_t* ap = argmax + p * OHW;
    for (int64_t o = 0; o < OHW; ++o) dxp[ap[o]] += dyp[o];
  }
}

void avg_pool2d_forward(const float* x, float* y, const Pool2dShape& s) {
  const int64_t P = s.N * s.C;
  const float inv = 1.0f / static_cast<float>(s.KH * s.KW);
#pragma omp parallel for schedule(static) if (P * s.H * s.W > kParallelMin)
  for (int64_t p = 0; p < P; ++p) {
    const float* xp = x + p * s.H * s.W;
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Window r = window(s, oh, ow);
        float sum = 0.0f;
        for (int64_t h = r.h0; h < r.h1; ++h)
          for (int64_t w = r.w0; w < r.w1; ++w) sum += xp[h * s.W + w];
        y[(p * s.OH + oh) * s.OW + ow] = sum * inv;
      }
  }
}

void avg_pool2d_backward(const float* dy, float* dx, const Pool2dShape& s) {
  const int64_t P = s.N * s.C, HW = s.H * s.W;
  const float inv = 1.0f / static_cast<float>(s.KH * s.KW);
#pragma omp parallel for schedule(static) if (P * HW > kParallelMin)
  for (int64_t p = 0; p < P; ++p) {
    float* dxp = dx + p * HW;
    std::memset(dxp, 0, static_cast<size_t>(HW) * sizeof(float));
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Window r = window(s, oh, ow);
        const float g = dy[(p * s.OH + oh) * s.OW + ow] * inv;
        for (int64_t h = r.h0; h < r.h1; ++h)
          for (int64_t w = r.w0; w < r.w1; ++w) dxp[h * s.W + w] += g;
      }
  }
}

void global_avg_pool2d_forward(const float* x, float* y, int64_t P, int64_t HW) {
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static) if (P * HW > kParallelMin)
  for (int64_t p = 0; p < P; ++p) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < HW; ++i) sum += x[p * HW + i];
    y[p] = sum * inv;
  }
}

void global_avg_pool2d_backward(const float* dy, float* dx, int64_t P, int64_t HW) {
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static) if (P * HW > kParallelMin)
  for (int64_t p = 0; p < P; ++p) {
    const float g = dy[p] * inv;
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) dx[p * HW + i] = g;
  }
}

}  // namespace cvtrain::cpu
