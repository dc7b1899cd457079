// Fused batch norm + residual add + ReLU kernels (bn_act.h), NCHW and channels-last.
// Determinism: every sum is cut into pieces fixed by the shape alone (a channel's planes for NCHW,
// chunks of kRows rows for channels-last), each piece summed in float by one thread in a fixed
// order, and the pieces gathered in double in a fixed order: the results do not depend on the
// thread count. Statistics use the shifted sums of backend/cpu/batchnorm.cpp (shift = the
// channel's first value) and hand unshifted double sums to the sync seam, as batch_norm_stats does.
#include "cvtrain/backend/cpu/bn_act.h"

#include <algorithm>
#include <cmath>

#include "cvtrain/backend/cpu/batchnorm.h"

namespace cvtrain::cpu {

namespace {

constexpr int64_t kParallelMin = 16384;
constexpr int64_t kRows = 256;  // channels-last: rows per chunk of float partial sums

int64_t chunks_of(const BnLayout& l) { return (l.N * l.HW + kRows - 1) / kRows; }

// Scratch: sums (2C+1 doubles), then 4C floats of per-channel coefficients, then (channels-last)
// 2C floats of partial sums per chunk.
struct Scratch {
  double* sums;
  float *c0, *c1, *c2, *c3;  // (C) each
  float* partial;            // (chunks, 2, C)
};
Scratch carve(const BnLayout& l, double* scratch) {
  const int64_t C = l.C;
  Scratch s;
  s.sums = scratch;
  float* f = reinterpret_cast<float*>(scratch + 2 * C + 1);
  s.c0 = f, s.c1 = f + C, s.c2 = f + 2 * C, s.c3 = f + 3 * C;
  s.partial = f + 4 * C;
  return s;
}

// channels-last: per chunk of rows, float sums of d = x - K and d^2 per channel; then gathered in
// double and unshifted into sums = [sum x (C), sum x^2 (C), M]
void stats_nhwc(const float* x, const BnLayout& l, const Scratch& s) {
  const int64_t C = l.C, M = l.N * l.HW, nch = chunks_of(l);
  const float* K = x;  // the first row: each channel's shift
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
  for (int64_t k = 0; k < nch; ++k) {
    float* __restrict a = s.partial + k * 2 * C;
    float* __restrict b = a + C;
    std::fill_n(a, 2 * C, 0.0f);
    if (C % 16 == 0) {  // 16 channels at a time down the rows, the sums in registers (same order)
      for (int64_t c0 = 0; c0 < C; c0 += 16) {
        float ra[16] = {}, rb[16] = {};
        for (int64_t r = k * kRows; r < std::min(M, (k + 1) * kRows); ++r) {
#pragma omp simd
          for (int64_t j = 0; j < 16; ++j) {
            const float d = x[r * C + c0 + j] - K[c0 + j];
            ra[j] += d;
            rb[j] += d * d;
          }
        }
        for (int64_t j = 0; j < 16; ++j) a[c0 + j] = ra[j], b[c0 + j] = rb[j];
      }
      continue;
    }
    for (int64_t r = k * kRows; r < std::min(M, (k + 1) * kRows); ++r) {
      const float* __restrict xr = x + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float d = xr[c] - K[c];
        a[c] += d;
        b[c] += d * d;
      }
    }
  }
  for (int64_t c = 0; c < 2 * C; ++c) s.sums[c] = 0.0;
  for (int64_t k = 0; k < nch; ++k)
    for (int64_t c = 0; c < 2 * C; ++c) s.sums[c] += s.partial[k * 2 * C + c];
  for (int64_t c = 0; c < C; ++c) {  // unshift: sum x = s1 + M K, sum x^2 = s2 + 2 K s1 + M K^2
    const double s1 = s.sums[c], s2 = s.sums[C + c], k = K[c];
    s.sums[c] = s1 + static_cast<double>(M) * k;
    s.sums[C + c] = s2 + 2.0 * k * s1 + static_cast<double>(M) * k * k;
  }
  s.sums[2 * C] = static_cast<double>(M);
}

// y = relu?((x - mean) * scale + shift (+ residual)) with scale = weight * invstd, shift = bias
void apply(const float* x, const float* residual, bool relu, const float* mean, const float* scale,
           const float* shift, float* y, const BnLayout& l) {
  const int64_t C = l.C, HW = l.HW;
  if (l.channels_last) {
    const int64_t M = l.N * HW;
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
    for (int64_t r = 0; r < M; ++r) {
      const float* __restrict xr = x + r * C;
      const float* __restrict rr = residual ? residual + r * C : nullptr;
      float* __restrict yr = y + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        float v = (xr[c] - mean[c]) * scale[c] + shift[c];
        if (rr) v += rr[c];
        yr[c] = relu ? std::max(v, 0.0f) : v;
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (l.N * C * HW > kParallelMin)
  for (int64_t p = 0; p < l.N * C; ++p) {
    const int64_t c = p % C;
    const float mu = mean[c], sc = scale[c], sh = shift[c];
    const float* __restrict xr = x + p * HW;
    const float* __restrict rr = residual ? residual + p * HW : nullptr;
    float* __restrict yr = y + p * HW;
    if (rr) {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) {
        const float v = (xr[i] - mu) * sc + sh + rr[i];
        yr[i] = relu ? std::max(v, 0.0f) : v;
      }
    } else {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) {
        const float v = (xr[i] - mu) * sc + sh;
        yr[i] = relu ? std::max(v, 0.0f) : v;
      }
    }
  }
}

void scale_shift(const float* weight, const float* bias, const float* invstd, int64_t C, float* scale, float* shift) {
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = (weight ? weight[c] : 1.0f) * invstd[c];
    shift[c] = bias ? bias[c] : 0.0f;
  }
}

// The inner loops, compiled per (ReLU mask, residual gradient written) so each vectorizes.
// NCHW run of n values of one channel: a += sum dz, b += sum dz * (x - mu); dr = dz
template <bool kRelu, bool kWrite>
inline void sums_run(const float* __restrict x, const float* __restrict y, const float* __restrict dy,
                     float* __restrict dr, float mu, int64_t n, float& a, float& b) {
  float sa = 0.0f, sb = 0.0f;
#pragma omp simd reduction(+ : sa, sb)
  for (int64_t i = 0; i < n; ++i) {
    float g = dy[i];
    if constexpr (kRelu) g = y[i] > 0.0f ? g : 0.0f;
    if constexpr (kWrite) dr[i] = g;
    sa += g;
    sb += g * (x[i] - mu);
  }
  a += sa, b += sb;
}
// channels-last row of C channels: a[c] += dz, b[c] += dz * (x - mean[c]); dr = dz
template <bool kRelu, bool kWrite>
inline void sums_row(const float* __restrict x, const float* __restrict y, const float* __restrict dy,
                     float* __restrict dr, const float* __restrict mean, int64_t C, float* __restrict a,
                     float* __restrict b) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    float g = dy[c];
    if constexpr (kRelu) g = y[c] > 0.0f ? g : 0.0f;
    if constexpr (kWrite) dr[c] = g;
    a[c] += g;
    b[c] += g * (x[c] - mean[c]);
  }
}
template <bool kRelu, bool kWrite>
void sums_nchw_channel(const float* x, const float* y, const float* dy, float* dres, float mu, const BnLayout& l,
                       int64_t c, double& s1, double& s2) {
  const int64_t C = l.C, HW = l.HW;
  for (int64_t n = 0; n < l.N; ++n) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t i0 = 0; i0 < HW; i0 += 1024) {  // float runs of at most 1024, then double
      const int64_t len = std::min<int64_t>(HW - i0, 1024);
      float a = 0.0f, b = 0.0f;
      sums_run<kRelu, kWrite>(x + base + i0, kRelu ? y + base + i0 : nullptr, dy + base + i0,
                              kWrite ? dres + base + i0 : nullptr, mu, len, a, b);
      s1 += a, s2 += b;
    }
  }
}
template <bool kRelu, bool kWrite>
void sums_nhwc_chunk(const float* x, const float* y, const float* dy, float* dres, const float* mean,
                     const BnLayout& l, int64_t r0, int64_t r1, float* a, float* b) {
  const int64_t C = l.C;
  if (C % 16 == 0) {  // a vector of 16 channels at a time down the rows: the sums stay in registers
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      float ra[16] = {}, rb[16] = {};
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r * C + c0;
#pragma omp simd
        for (int64_t j = 0; j < 16; ++j) {
          float g = dy[o + j];
          if constexpr (kRelu) g = y[o + j] > 0.0f ? g : 0.0f;
          if constexpr (kWrite) dres[o + j] = g;
          ra[j] += g;
          rb[j] += g * (x[o + j] - mean[c0 + j]);
        }
      }
      for (int64_t j = 0; j < 16; ++j) a[c0 + j] += ra[j], b[c0 + j] += rb[j];
    }
    return;
  }
  for (int64_t r = r0; r < r1; ++r)
    sums_row<kRelu, kWrite>(x + r * C, kRelu ? y + r * C : nullptr, dy + r * C, kWrite ? dres + r * C : nullptr, mean,
                            C, a, b);
}

// sums = [sum dz (C), sum dz * (x - mean) (C), M]; dres (if wanted) = dz
void backward_sums(const float* x, const float* y, const float* dy, const float* mean, bool relu, float* dres,
                   const BnLayout& l, const Scratch& s) {
  const int64_t C = l.C, HW = l.HW, M = l.N * HW;
  if (l.channels_last) {
    const int64_t nch = chunks_of(l);
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
    for (int64_t k = 0; k < nch; ++k) {
      float* a = s.partial + k * 2 * C;
      float* b = a + C;
      std::fill_n(a, 2 * C, 0.0f);
      const int64_t r0 = k * kRows, r1 = std::min(M, (k + 1) * kRows);
      if (relu && dres) sums_nhwc_chunk<true, true>(x, y, dy, dres, mean, l, r0, r1, a, b);
      else if (relu) sums_nhwc_chunk<true, false>(x, y, dy, dres, mean, l, r0, r1, a, b);
      else if (dres) sums_nhwc_chunk<false, true>(x, y, dy, dres, mean, l, r0, r1, a, b);
      else sums_nhwc_chunk<false, false>(x, y, dy, dres, mean, l, r0, r1, a, b);
    }
    for (int64_t c = 0; c < 2 * C; ++c) s.sums[c] = 0.0;
    for (int64_t k = 0; k < nch; ++k)
      for (int64_t c = 0; c < 2 * C; ++c) s.sums[c] += s.partial[k * 2 * C + c];
  } else {
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
    for (int64_t c = 0; c < C; ++c) {
      double s1 = 0.0, s2 = 0.0;
      if (relu && dres) sums_nchw_channel<true, true>(x, y, dy, dres, mean[c], l, c, s1, s2);
      else if (relu) sums_nchw_channel<true, false>(x, y, dy, dres, mean[c], l, c, s1, s2);
      else if (dres) sums_nchw_channel<false, true>(x, y, dy, dres, mean[c], l, c, s1, s2);
      else sums_nchw_channel<false, false>(x, y, dy, dres, mean[c], l, c, s1, s2);
      s.sums[c] = s1, s.sums[C + c] = s2;
    }
  }
  s.sums[2 * C] = static_cast<double>(M);
}

// dx = k*dz + q*(x - mean) + r per channel; dz read from dres when it was written, else remade
void write_dx(const float* x, const float* y, const float* dy, const float* dres, bool relu, const float* mean,
              const Scratch& s, float* dx, const BnLayout& l) {
  const int64_t C = l.C, HW = l.HW;
  const float *k = s.c0, *q = s.c1, *r = s.c2;
  if (l.channels_last) {
    const int64_t M = l.N * HW;
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
    for (int64_t row = 0; row < M; ++row) {
      const float* __restrict xr = x + row * C;
      const float* __restrict dyr = dres ? dres + row * C : dy + row * C;
      float* __restrict dxr = dx + row * C;
      if (relu && !dres) {
        const float* __restrict yr = y + row * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c)
          dxr[c] = k[c] * (yr[c] > 0.0f ? dyr[c] : 0.0f) + q[c] * (xr[c] - mean[c]) + r[c];
      } else {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) dxr[c] = k[c] * dyr[c] + q[c] * (xr[c] - mean[c]) + r[c];
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (l.N * C * HW > kParallelMin)
  for (int64_t p = 0; p < l.N * C; ++p) {
    const int64_t c = p % C;
    const float kc = k[c], qc = q[c], rc = r[c], mu = mean[c];
    const float* __restrict xr = x + p * HW;
    const float* __restrict dyr = dres ? dres + p * HW : dy + p * HW;
    float* __restrict dxr = dx + p * HW;
    if (relu && !dres) {
      const float* __restrict yr = y + p * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dxr[i] = kc * (yr[i] > 0.0f ? dyr[i] : 0.0f) + qc * (xr[i] - mu) + rc;
    } else {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dxr[i] = kc * dyr[i] + qc * (xr[i] - mu) + rc;
    }
  }
}

}  // namespace

int64_t bn_act_scratch_doubles(const BnLayout& l) {
  const int64_t extra = l.channels_last ? chunks_of(l) * l.C : 0;  // 2C floats per chunk
  return 2 * l.C + 1 + 2 * l.C + extra + 1;
}

void bn_act_forward_train(const float* x, const float* weight, const float* bias, const float* residual, bool relu,
                          float* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                          float momentum, float eps, const BnLayout& l, double* scratch, BatchNormSync* sync) {
  const Scratch s = carve(l, scratch);
  if (l.channels_last)
    stats_nhwc(x, l, s);
  else
    batch_norm_stats(x, l.N, l.C, l.HW, s.sums);
  if (sync) sync->allreduce_sums(s.sums, 2 * l.C + 1);  // train.sync_bn: every process's batch
  batch_norm_stats_finish(s.sums, l.C, momentum, eps, save_mean, save_invstd, running_mean, running_var);
  scale_shift(weight, bias, save_invstd, l.C, s.c0, s.c1);
  apply(x, residual, relu, save_mean, s.c0, s.c1, y, l);
}

void bn_act_forward_eval(const float* x, const float* weight, const float* bias, const float* residual, bool relu,
                         const float* mean, const float* invstd, float* y, const BnLayout& l, double* scratch) {
  const Scratch s = carve(l, scratch);
  scale_shift(weight, bias, invstd, l.C, s.c0, s.c1);
  apply(x, residual, relu, mean, s.c0, s.c1, y, l);
}

void bn_act_backward(const float* x, const float* y, const float* dy, const float* weight, const float* mean,
                     const float* invstd, bool relu, bool training, float* dx, float* dresidual, float* dweight,
                     float* dbias, const BnLayout& l, double* scratch, BatchNormSync* sync) {
  const Scratch s = carve(l, scratch);
  const int64_t C = l.C;
  backward_sums(x, y, dy, mean, relu, dresidual, l, s);
  for (int64_t c = 0; c < C; ++c) {  // this process's own (under sync the gradient all-reduce adds the rest)
    if (dweight) dweight[c] = static_cast<float>(s.sums[C + c] * invstd[c]);
    if (dbias) dbias[c] = static_cast<float>(s.sums[c]);
  }
  if (!dx) return;
  if (sync && training) sync->allreduce_sums(s.sums, 2 * C + 1);  // train.sync_bn: the global sums
  for (int64_t c = 0; c < C; ++c) {
    // dx = k*dz + q*(x - mean) + r (Ioffe & Szegedy 2015, sec. 3); evaluation: statistics are constants
    const float w = weight ? weight[c] : 1.0f;
    if (training) {
      const BatchNormDxCoef f = batch_norm_dx_coef(s.sums, C, c, w, invstd[c]);
      s.c0[c] = f.k, s.c1[c] = f.q, s.c2[c] = f.r;
    } else {
      s.c0[c] = w * invstd[c], s.c1[c] = 0.0f, s.c2[c] = 0.0f;
    }
  }
  write_dx(x, y, dy, dresidual, relu, mean, s, dx, l);
}

}  // namespace cvtrain::cpu
