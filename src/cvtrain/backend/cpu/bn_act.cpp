// Fused batch norm + residual add + ReLU kernels (bn_act.h), NCHW and channels-last.
// Determinism: every sum is cut into pieces fixed by the shape alone (a channel's planes for NCHW,
// chunks of kRows rows for channels-last), each piece summed in float by one thread in a fixed
// order, and the pieces gathered in double in a fixed order: the results do not depend on the
// thread count. Statistics use the shifted sums of backend/cpu/batchnorm.cpp (shift = the
// channel's first value) and hand unshifted double sums to the sync seam, as batch_norm_stats does.
// Inside a piece the sums run in 16 explicit float lanes (not an `omp simd reduction`, whose order
// follows the vector width the compiler picks, which differs between float and bf16 loads): so a bf16
// call sums exactly what the float call sums on the widened values (NCHW float sums are therefore no
// longer bitwise those of batch_norm_stats; the same up to rounding). Every kernel is a template on the
// activations' storage T (float or bf16), loading with load_f32 and storing with store_as<T>.
#include "cvtrain/backend/cpu/bn_act.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "cvtrain/backend/cpu/batchnorm.h"

namespace cvtrain::cpu {

using cvtrain::bf16;

namespace {

constexpr int64_t kParallelMin = 16384;
constexpr int64_t kRows = 256;  // channels-last: rows per chunk of float partial sums
constexpr int64_t kRun = 1024;  // NCHW: values per float partial sum (in 16 lanes), then double
constexpr int64_t kLanes = 16;

int64_t chunks_of(const BnLayout& l) { return (l.N * l.HW + kRows - 1) / kRows; }

// Scratch: sums (2C+1 doubles), then 4C floats of per-channel coefficients (forward train: c3 holds
// the channels-last shifts), then (channels-last) 2C floats of partial sums per chunk.
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
template <class T>
void stats_nhwc(const T* x, const BnLayout& l, const Scratch& s) {
  const int64_t C = l.C, M = l.N * l.HW, nch = chunks_of(l);
  float* K = s.c3;  // the first row: each channel's shift
  for (int64_t c = 0; c < C; ++c) K[c] = M > 0 ? load_f32(x[c]) : 0.0f;
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
            const float d = load_f32(x[r * C + c0 + j]) - K[c0 + j];
            ra[j] += d;
            rb[j] += d * d;
          }
        }
        for (int64_t j = 0; j < 16; ++j) a[c0 + j] = ra[j], b[c0 + j] = rb[j];
      }
      continue;
    }
    for (int64_t r = k * kRows; r < std::min(M, (k + 1) * kRows); ++r) {
      const T* __restrict xr = x + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float d = load_f32(xr[c]) - K[c];
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

// NCHW: as batch_norm_stats (shift = the channel's first value, float runs of kRun then double),
// each run summed in kLanes fixed lanes
template <class T>
void stats_nchw(const T* x, const BnLayout& l, const Scratch& s) {
  const int64_t C = l.C, HW = l.HW, M = l.N * HW;
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float K = load_f32(x[c * HW]);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t n = 0; n < l.N; ++n)
      for (int64_t i0 = 0; i0 < HW; i0 += kRun) {
        const T* __restrict xr = x + (n * C + c) * HW + i0;
        const int64_t len = std::min(HW - i0, kRun), full = len / kLanes * kLanes;
        float a[kLanes] = {}, b[kLanes] = {};
        for (int64_t i = 0; i < full; i += kLanes) {
#pragma omp simd
          for (int64_t j = 0; j < kLanes; ++j) {
            const float d = load_f32(xr[i + j]) - K;
            a[j] += d;
            b[j] += d * d;
          }
        }
        for (int64_t j = 0; j < len - full; ++j) {
          const float d = load_f32(xr[full + j]) - K;
          a[j] += d;
          b[j] += d * d;
        }
        for (int64_t j = 0; j < kLanes; ++j) s1 += a[j], s2 += b[j];
      }
    s.sums[c] = s1 + static_cast<double>(M) * K;  // unshifted, as batch_norm_stats
    s.sums[C + c] = s2 + 2.0 * static_cast<double>(K) * s1 + static_cast<double>(M) * K * K;
  }
  s.sums[2 * C] = static_cast<double>(M);
}

// y = relu?((x - mean) * scale + shift (+ residual)): a run of n values of one channel (NCHW)
template <class T, bool kRes>
[[gnu::always_inline]] inline void apply_run(const T* __restrict x, const T* __restrict res, bool relu, float mu,
                                             float sc, float sh, T* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float v = (load_f32(x[i]) - mu) * sc + sh;
    if constexpr (kRes) v += load_f32(res[i]);
    y[i] = store_as<T>(relu ? std::max(v, 0.0f) : v);
  }
}
// ... or a row of n channels (channels-last); kW > 0: exactly kW, a fixed width (see kFlat below)
template <int64_t kW, class T, bool kRes>
[[gnu::always_inline]] inline void apply_row(const T* __restrict x, const T* __restrict res, bool relu,
                                             const float* __restrict mean, const float* __restrict scale,
                                             const float* __restrict shift, T* __restrict y, int64_t n) {
  const int64_t len = kW > 0 ? kW : n;
#pragma omp simd
  for (int64_t c = 0; c < len; ++c) {
    float v = (load_f32(x[c]) - mean[c]) * scale[c] + shift[c];
    if constexpr (kRes) v += load_f32(res[c]);
    y[c] = store_as<T>(relu ? std::max(v, 0.0f) : v);
  }
}
// Channels-last elementwise passes in flat blocks of kFlat values, when C divides kFlat (a block holds
// whole rows: the per-channel coefficients repeated kFlat / C times) or kFlat divides C. Blocks this
// wide vectorize with whole 512-bit vectors; a 16- or 32-channel row alone gets 256-bit ones on bf16
// (where the rounding then costs more than the bytes saved) and loop overhead on float. NOTE:
// measured, 1 thread, ResNet-20 shape (128,16,28x28) bf16 forward train 0.44 -> 0.26 ms, CNN conv1
// (128,32,28x28) backward 1.49 -> 0.95 ms (hot caches); float 0-20% faster. The last rows that fill
// no block go row by row.
constexpr int64_t kFlat = 64;
bool flat_ok(int64_t C) { return C % kFlat == 0 || kFlat % C == 0; }
struct FlatCoef {  // (kFlat) per coefficient: repeated when C divides kFlat, else unused
  float v[4][kFlat];
  FlatCoef(int64_t C, std::initializer_list<const float*> src) {
    int i = 0;
    for (const float* p : src) {
      if (kFlat % C == 0)
        for (int64_t j = 0; j < kFlat; ++j) v[i][j] = p[j % C];
      ++i;
    }
  }
};

template <class T, bool kRes>
void apply_nhwc(const T* x, const T* residual, bool relu, const float* mean, const float* scale, const float* shift,
                T* y, const BnLayout& l) {
  const int64_t C = l.C, M = l.N * l.HW;
  int64_t done = 0;  // values written in flat blocks
  if (flat_ok(C)) {
    const bool rep = kFlat % C == 0;
    const FlatCoef f(C, {mean, scale, shift});
    const int64_t nb = M * C / kFlat;
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t e = b * kFlat, c0 = rep ? 0 : e % C;
      apply_row<kFlat, T, kRes>(x + e, kRes ? residual + e : nullptr, relu, rep ? f.v[0] : mean + c0,
                                rep ? f.v[1] : scale + c0, rep ? f.v[2] : shift + c0, y + e, kFlat);
    }
    done = nb * kFlat;
  }
#pragma omp parallel for schedule(static) if ((M * C - done) > kParallelMin)
  for (int64_t r = done / C; r < M; ++r) {
    const int64_t o = r * C;
    apply_row<0, T, kRes>(x + o, kRes ? residual + o : nullptr, relu, mean, scale, shift, y + o, C);
  }
}
template <class T>
void apply(const T* x, const T* residual, bool relu, const float* mean, const float* scale, const float* shift, T* y,
           const BnLayout& l) {
  const int64_t C = l.C, HW = l.HW;
  if (l.channels_last) {
    if (residual)
      apply_nhwc<T, true>(x, residual, relu, mean, scale, shift, y, l);
    else
      apply_nhwc<T, false>(x, nullptr, relu, mean, scale, shift, y, l);
    return;
  }
#pragma omp parallel for schedule(static) if (l.N * C * HW > kParallelMin)
  for (int64_t p = 0; p < l.N * C; ++p) {
    const int64_t c = p % C;
    if (residual)
      apply_run<T, true>(x + p * HW, residual + p * HW, relu, mean[c], scale[c], shift[c], y + p * HW, HW);
    else
      apply_run<T, false>(x + p * HW, nullptr, relu, mean[c], scale[c], shift[c], y + p * HW, HW);
  }
}

void scale_shift(const float* weight, const float* bias, const float* invstd, int64_t C, float* scale, float* shift) {
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = (weight ? weight[c] : 1.0f) * invstd[c];
    shift[c] = bias ? bias[c] : 0.0f;
  }
}

// The inner loops, compiled per (ReLU mask, residual gradient written) so each vectorizes.
// One lane: dz = dy masked by y > 0; a += dz, b += dz * (x - mu); dr = dz (a bf16 dy value or 0, exact in T)
template <class T, bool kRelu, bool kWrite>
inline void sums_lane(const T* __restrict x, const T* __restrict y, const T* __restrict dy, T* __restrict dr,
                      float mu, int64_t i, float& a, float& b) {
  float g = load_f32(dy[i]);
  if constexpr (kRelu) g = load_f32(y[i]) > 0.0f ? g : 0.0f;
  if constexpr (kWrite) dr[i] = store_as<T>(g);
  a += g;
  b += g * (load_f32(x[i]) - mu);
}
// NCHW run of n values of one channel, in kLanes fixed lanes, gathered into s1, s2 in double
template <class T, bool kRelu, bool kWrite>
inline void sums_run(const T* __restrict x, const T* __restrict y, const T* __restrict dy, T* __restrict dr,
                     float mu, int64_t n, double& s1, double& s2) {
  float a[kLanes] = {}, b[kLanes] = {};
  const int64_t full = n / kLanes * kLanes;
  for (int64_t i = 0; i < full; i += kLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kLanes; ++j) sums_lane<T, kRelu, kWrite>(x, y, dy, dr, mu, i + j, a[j], b[j]);
  }
  for (int64_t j = 0; j < n - full; ++j) sums_lane<T, kRelu, kWrite>(x, y, dy, dr, mu, full + j, a[j], b[j]);
  for (int64_t j = 0; j < kLanes; ++j) s1 += a[j], s2 += b[j];
}
template <class T, bool kRelu, bool kWrite>
void sums_nchw_channel(const T* x, const T* y, const T* dy, T* dres, float mu, const BnLayout& l, int64_t c,
                       double& s1, double& s2) {
  const int64_t C = l.C, HW = l.HW;
  for (int64_t n = 0; n < l.N; ++n) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t i0 = 0; i0 < HW; i0 += kRun) {  // float runs of at most kRun, then double
      const int64_t o = base + i0;
      sums_run<T, kRelu, kWrite>(x + o, kRelu ? y + o : nullptr, dy + o, kWrite ? dres + o : nullptr, mu,
                                 std::min(HW - i0, kRun), s1, s2);
    }
  }
}
// channels-last rows [r0, r1) of C channels: a[c] += dz, b[c] += dz * (x - mean[c]) (each channel's
// sum runs down the rows in order); dr = dz
template <class T, bool kRelu, bool kWrite>
void sums_nhwc_chunk(const T* x, const T* y, const T* dy, T* dres, const float* mean, const BnLayout& l, int64_t r0,
                     int64_t r1, float* a, float* b) {
  const int64_t C = l.C;
  if (C % 16 == 0) {  // a vector of 16 channels at a time down the rows: the sums stay in registers
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      float ra[16] = {}, rb[16] = {};
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r * C + c0;
#pragma omp simd
        for (int64_t j = 0; j < 16; ++j)
          sums_lane<T, kRelu, kWrite>(x + o, y ? y + o : nullptr, dy + o, dres ? dres + o : nullptr, mean[c0 + j], j,
                                      ra[j], rb[j]);
      }
      for (int64_t j = 0; j < 16; ++j) a[c0 + j] += ra[j], b[c0 + j] += rb[j];
    }
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c)
      sums_lane<T, kRelu, kWrite>(x + o, y ? y + o : nullptr, dy + o, dres ? dres + o : nullptr, mean[c], c, a[c],
                                  b[c]);
  }
}

// sums = [sum dz (C), sum dz * (x - mean) (C), M]; dres (if wanted) = dz
template <class T>
void backward_sums(const T* x, const T* y, const T* dy, const float* mean, bool relu, T* dres, const BnLayout& l,
                   const Scratch& s) {
  const int64_t C = l.C, HW = l.HW, M = l.N * HW;
  if (l.channels_last) {
    const int64_t nch = chunks_of(l);
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
    for (int64_t k = 0; k < nch; ++k) {
      float* a = s.partial + k * 2 * C;
      float* b = a + C;
      std::fill_n(a, 2 * C, 0.0f);
      const int64_t r0 = k * kRows, r1 = std::min(M, (k + 1) * kRows);
      if (relu && dres) sums_nhwc_chunk<T, true, true>(x, y, dy, dres, mean, l, r0, r1, a, b);
      else if (relu) sums_nhwc_chunk<T, true, false>(x, y, dy, dres, mean, l, r0, r1, a, b);
      else if (dres) sums_nhwc_chunk<T, false, true>(x, y, dy, dres, mean, l, r0, r1, a, b);
      else sums_nhwc_chunk<T, false, false>(x, y, dy, dres, mean, l, r0, r1, a, b);
    }
    for (int64_t c = 0; c < 2 * C; ++c) s.sums[c] = 0.0;
    for (int64_t k = 0; k < nch; ++k)
      for (int64_t c = 0; c < 2 * C; ++c) s.sums[c] += s.partial[k * 2 * C + c];
  } else {
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
    for (int64_t c = 0; c < C; ++c) {
      double s1 = 0.0, s2 = 0.0;
      if (relu && dres) sums_nchw_channel<T, true, true>(x, y, dy, dres, mean[c], l, c, s1, s2);
      else if (relu) sums_nchw_channel<T, true, false>(x, y, dy, dres, mean[c], l, c, s1, s2);
      else if (dres) sums_nchw_channel<T, false, true>(x, y, dy, dres, mean[c], l, c, s1, s2);
      else sums_nchw_channel<T, false, false>(x, y, dy, dres, mean[c], l, c, s1, s2);
      s.sums[c] = s1, s.sums[C + c] = s2;
    }
  }
  s.sums[2 * C] = static_cast<double>(M);
}

// a channels-last row of n channels (kW > 0: exactly kW, as apply_row): dx = k*dz + q*(x - mean) + r
template <int64_t kW, class T, bool kMask>
[[gnu::always_inline]] inline void dx_row(const T* __restrict x, const T* __restrict y, const T* __restrict dz,
                                          const float* __restrict mean, const float* __restrict k,
                                          const float* __restrict q, const float* __restrict r, T* __restrict dx,
                                          int64_t n) {
  const int64_t len = kW > 0 ? kW : n;
#pragma omp simd
  for (int64_t c = 0; c < len; ++c) {
    float g = load_f32(dz[c]);
    if constexpr (kMask) g = load_f32(y[c]) > 0.0f ? g : 0.0f;
    dx[c] = store_as<T>(k[c] * g + q[c] * (load_f32(x[c]) - mean[c]) + r[c]);
  }
}

// dx = k*dz + q*(x - mean) + r per channel; dz read from dres when it was written (exact: a dy value
// or 0), else remade from dy and the mask
template <class T>
void write_dx(const T* x, const T* y, const T* dy, const T* dres, bool relu, const float* mean, const Scratch& s,
              T* dx, const BnLayout& l) {
  const int64_t C = l.C, HW = l.HW;
  const float *k = s.c0, *q = s.c1, *r = s.c2;
  const bool mask = relu && !dres;
  if (l.channels_last) {
    const int64_t M = l.N * HW;
    const T* dz = dres ? dres : dy;
    int64_t done = 0;  // values written in flat blocks (as apply_nhwc)
    if (flat_ok(C)) {
      const bool rep = kFlat % C == 0;
      const FlatCoef f(C, {mean, k, q, r});
      const int64_t nb = M * C / kFlat;
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t e = b * kFlat, c0 = rep ? 0 : e % C;
        const float *fm = rep ? f.v[0] : mean + c0, *fk = rep ? f.v[1] : k + c0, *fq = rep ? f.v[2] : q + c0,
                    *fr = rep ? f.v[3] : r + c0;
        if (mask) dx_row<kFlat, T, true>(x + e, y + e, dz + e, fm, fk, fq, fr, dx + e, kFlat);
        else dx_row<kFlat, T, false>(x + e, nullptr, dz + e, fm, fk, fq, fr, dx + e, kFlat);
      }
      done = nb * kFlat;
    }
#pragma omp parallel for schedule(static) if ((M * C - done) > kParallelMin)
    for (int64_t row = done / C; row < M; ++row) {
      const int64_t o = row * C;
      if (mask) dx_row<0, T, true>(x + o, y + o, dz + o, mean, k, q, r, dx + o, C);
      else dx_row<0, T, false>(x + o, nullptr, dz + o, mean, k, q, r, dx + o, C);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (l.N * C * HW > kParallelMin)
  for (int64_t p = 0; p < l.N * C; ++p) {
    const int64_t c = p % C;
    const float kc = k[c], qc = q[c], rc = r[c], mu = mean[c];
    const T* __restrict xr = x + p * HW;
    const T* __restrict dyr = dres ? dres + p * HW : dy + p * HW;
    T* __restrict dxr = dx + p * HW;
    if (mask) {
      const T* __restrict yr = y + p * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i)
        dxr[i] =
            store_as<T>(kc * (load_f32(yr[i]) > 0.0f ? load_f32(dyr[i]) : 0.0f) + qc * (load_f32(xr[i]) - mu) + rc);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dxr[i] = store_as<T>(kc * load_f32(dyr[i]) + qc * (load_f32(xr[i]) - mu) + rc);
    }
  }
}

}  // namespace

int64_t bn_act_scratch_doubles(const BnLayout& l) {
  const int64_t extra = l.channels_last ? chunks_of(l) * l.C : 0;  // 2C floats per chunk
  return 2 * l.C + 1 + 2 * l.C + extra + 1;
}

template <class T>
void bn_act_forward_train(const T* x, const float* weight, const float* bias, const Same<T>* residual, bool relu,
                          Same<T>* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                          float momentum, float eps, const BnLayout& l, double* scratch, BatchNormSync* sync) {
  const Scratch s = carve(l, scratch);
  if (l.channels_last)
    stats_nhwc(x, l, s);
  else
    stats_nchw(x, l, s);
  if (sync) sync->allreduce_sums(s.sums, 2 * l.C + 1);  // train.sync_bn: every process's batch
  batch_norm_stats_finish(s.sums, l.C, momentum, eps, save_mean, save_invstd, running_mean, running_var);
  scale_shift(weight, bias, save_invstd, l.C, s.c0, s.c1);
  apply(x, residual, relu, save_mean, s.c0, s.c1, y, l);
}

template <class T>
void bn_act_forward_eval(const T* x, const float* weight, const float* bias, const Same<T>* residual, bool relu,
                         const float* mean, const float* invstd, Same<T>* y, const BnLayout& l, double* scratch) {
  const Scratch s = carve(l, scratch);
  scale_shift(weight, bias, invstd, l.C, s.c0, s.c1);
  apply(x, residual, relu, mean, s.c0, s.c1, y, l);
}

template <class T>
void bn_act_backward(const T* x, const Same<T>* y, const Same<T>* dy, const float* weight, const float* mean,
                     const float* invstd, bool relu, bool training, Same<T>* dx, Same<T>* dresidual, float* dweight,
                     float* dbias, const BnLayout& l, double* scratch, BatchNormSync* sync) {
  const Scratch s = carve(l, scratch);
  const int64_t C = l.C;
  backward_sums(x, relu ? y : nullptr, dy, mean, relu, dresidual, l, s);
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
  write_dx(x, y, dy, static_cast<const T*>(dresidual), relu, mean, s, dx, l);
}

#define CVTRAIN_BN_ACT(T)                                                                                              \
  template void bn_act_forward_train<T>(const T*, const float*, const float*, const T*, bool, T*, float*, float*,     \
                                        float*, float*, float, float, const BnLayout&, double*, BatchNormSync*);      \
  template void bn_act_forward_eval<T>(const T*, const float*, const float*, const T*, bool, const float*,            \
                                       const float*, T*, const BnLayout&, double*);                                   \
  template void bn_act_backward<T>(const T*, const T*, const T*, const float*, const float*, const float*, bool, bool, \
                                   T*, T*, float*, float*, const BnLayout&, double*, BatchNormSync*);
CVTRAIN_BN_ACT(float)
CVTRAIN_BN_ACT(bf16)
#undef CVTRAIN_BN_ACT

}  // namespace cvtrain::cpu
