// Fast batch normalization: OpenMP over channels (each channel's statistics are summed by one
// thread in a fixed order, so results do not depend on the thread count), one pass for the
// statistics, and the normalization right after it while the channel's slab is still in cache.
// Statistics: float partial sums of d = x - K over runs of at most 1024 elements (K = the channel's
// first element), gathered in double. The shift keeps E[d^2] - E[d]^2 clear of the cancellation of
// the naive one-pass formula when |mean| >> std (Chan, Golub & LeVeque 1983, "shifted data").
#include "cvtrain/backend/cpu/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace cvtrain::cpu {

namespace {

constexpr int64_t kParallelMin = 16384;
constexpr int64_t kChunk = 1024;  // float partial sums over at most this many elements, then double

// s1 += sum(x - K), s2 += sum((x - K)^2) over x: (len)
inline void add_shifted_sums(const float* __restrict x, int64_t len, float K, double& s1, double& s2) {
  for (int64_t i0 = 0; i0 < len; i0 += kChunk) {
    const int64_t i1 = std::min(len, i0 + kChunk);
    float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = i0; i < i1; ++i) {
      const float d = x[i] - K;
      a += d;
      b += d * d;
    }
    s1 += a, s2 += b;
  }
}

// s1 += sum(dy), s2 += sum(dy * (x - mean)) over x, dy: (len)
inline void add_backward_sums(const float* __restrict x, const float* __restrict dy, int64_t len, float mean,
                              double& s1, double& s2) {
  for (int64_t i0 = 0; i0 < len; i0 += kChunk) {
    const int64_t i1 = std::min(len, i0 + kChunk);
    float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = i0; i < i1; ++i) {
      a += dy[i];
      b += dy[i] * (x[i] - mean);
    }
    s1 += a, s2 += b;
  }
}

}  // namespace

void batch_norm_forward_train(const float* x, const float* weight, const float* bias, float* y, float* save_mean,
                              float* save_invstd, float* running_mean, float* running_var, float momentum, float eps,
                              int64_t N, int64_t C, int64_t HW, BatchNormSync* sync) {
  if (sync) {  // train.sync_bn: the statistics of every process's batch (the phases at the end of this file)
    std::vector<double> sums(static_cast<size_t>(2 * C + 1));  // NOTE: the one allocation: 2C+1 doubles
    batch_norm_stats(x, N, C, HW, sums.data());
    sync->allreduce_sums(sums.data(), 2 * C + 1);
    batch_norm_stats_finish(sums.data(), C, momentum, eps, save_mean, save_invstd, running_mean, running_var);
    batch_norm_normalize(x, weight, bias, save_mean, save_invstd, y, N, C, HW);
    return;
  }
  const int64_t M = N * HW;
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float K = x[c * HW];
    double s1 = 0.0, s2 = 0.0;
    for (int64_t n = 0; n < N; ++n) add_shifted_sums(x + (n * C + c) * HW, HW, K, s1, s2);
    const double dmean = s1 / static_cast<double>(M);
    const double var = std::max(s2 / static_cast<double>(M) - dmean * dmean, 0.0);  // biased
    const float mean = static_cast<float>(K + dmean);
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float scale = (weight ? weight[c] : 1.0f) * invstd, shift = bias ? bias[c] : 0.0f;
    for (int64_t n = 0; n < N; ++n) {
      const float* __restrict xr = x + (n * C + c) * HW;
      float* __restrict yr = y + (n * C + c) * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) yr[i] = (xr[i] - mean) * scale + shift;
    }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    if (running_var)
      running_var[c] = (1.0f - momentum) * running_var[c] +
                       momentum * static_cast<float>(var * static_cast<double>(M) / static_cast<double>(M - 1));
  }
}

void batch_norm_forward_eval(const float* x, const float* weight, const float* bias, const float* running_mean,
                             const float* running_var, float eps, float* y, int64_t N, int64_t C, int64_t HW) {
  // Planes (n, c) are independent here: parallel over all N*C of them.
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t p = 0; p < N * C; ++p) {
    const int64_t c = p % C;
    const float invstd = 1.0f / std::sqrt(running_var[c] + eps);
    const float scale = (weight ? weight[c] : 1.0f) * invstd, shift = bias ? bias[c] : 0.0f, mean = running_mean[c];
    const float* __restrict xr = x + p * HW;
    float* __restrict yr = y + p * HW;
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) yr[i] = (xr[i] - mean) * scale + shift;
  }
}

void batch_norm_backward(const float* x, const float* dy, const float* weight, const float* mean, const float* invstd,
                         bool training, float* dx, float* dweight, float* dbias, int64_t N, int64_t C, int64_t HW,
                         BatchNormSync* sync) {
  if (sync && training && dx) {  // train.sync_bn: dx through the statistics of every process's batch
    std::vector<double> sums(static_cast<size_t>(2 * C + 1));
    batch_norm_backward_sums(x, dy, mean, N, C, HW, sums.data());
    for (int64_t c = 0; c < C; ++c) {  // this process's share; the gradient all-reduce adds the others'
      if (dweight) dweight[c] = static_cast<float>(sums[C + c] * invstd[c]);
      if (dbias) dbias[c] = static_cast<float>(sums[c]);
    }
    sync->allreduce_sums(sums.data(), 2 * C + 1);
    batch_norm_backward_dx(x, dy, weight, mean, invstd, sums.data(), dx, N, C, HW);
    return;
  }
  const int64_t M = N * HW;
  const bool need_sums = training || dweight || dbias;
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float mu = mean[c], is = invstd[c];
    double sum_dy = 0.0, sum_dy_xmu = 0.0;  // sum(dy), sum(dy * (x - mean))
    if (need_sums)
      for (int64_t n = 0; n < N; ++n)
        add_backward_sums(x + (n * C + c) * HW, dy + (n * C + c) * HW, HW, mu, sum_dy, sum_dy_xmu);
    if (dweight) dweight[c] = static_cast<float>(sum_dy_xmu * is);
    if (dbias) dbias[c] = static_cast<float>(sum_dy);
    if (!dx) continue;
    // dx = k*dy + q*(x - mean) + r with k = w*invstd; training adds the terms through the batch
    // statistics: q = -k*invstd^2*sum(dy*(x-mean))/M, r = -k*sum(dy)/M (Ioffe & Szegedy 2015, sec. 3).
    const float k = (weight ? weight[c] : 1.0f) * is;
    const float q = training ? static_cast<float>(-k * double(is) * is * sum_dy_xmu / M) : 0.0f;
    const float r = training ? static_cast<float>(-k * sum_dy / M) : 0.0f;
    for (int64_t n = 0; n < N; ++n) {
      const float* __restrict xr = x + (n * C + c) * HW;
      const float* __restrict dyr = dy + (n * C + c) * HW;
      float* __restrict dxr = dx + (n * C + c) * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dxr[i] = k * dyr[i] + q * (xr[i] - mu) + r;
    }
  }
}

// ---- Synchronized batch norm: the phases (header). Same sums as the fused kernels, split at the
// points where the sums of all processes are needed.

void batch_norm_stats(const float* x, int64_t N, int64_t C, int64_t HW, double* sums) {
  const int64_t M = N * HW;
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float K = x[c * HW];
    double s1 = 0.0, s2 = 0.0;
    for (int64_t n = 0; n < N; ++n) add_shifted_sums(x + (n * C + c) * HW, HW, K, s1, s2);
    // unshifted, so that sums with different shifts on different processes add up
    sums[c] = s1 + static_cast<double>(M) * K;
    sums[C + c] = s2 + 2.0 * K * s1 + static_cast<double>(M) * K * K;
  }
  sums[2 * C] = static_cast<double>(M);
}

void batch_norm_stats_finish(const double* sums, int64_t C, float momentum, float eps, float* save_mean,
                             float* save_invstd, float* running_mean, float* running_var) {
  const double M = sums[2 * C];
  for (int64_t c = 0; c < C; ++c) {
    const double mean = sums[c] / M;
    // NOTE: E[x^2] - E[x]^2 in double: the shifted float partial sums dominate the error
    const double var = std::max(sums[C + c] / M - mean * mean, 0.0);  // biased
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * save_mean[c];
    if (running_var)
      running_var[c] = (1.0f - momentum) * running_var[c] + momentum * static_cast<float>(var * M / (M - 1.0));
  }
}

void batch_norm_normalize(const float* x, const float* weight, const float* bias, const float* mean,
                          const float* invstd, float* y, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t p = 0; p < N * C; ++p) {
    const int64_t c = p % C;
    const float scale = (weight ? weight[c] : 1.0f) * invstd[c], shift = bias ? bias[c] : 0.0f, mu = mean[c];
    const float* __restrict xr = x + p * HW;
    float* __restrict yr = y + p * HW;
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) yr[i] = (xr[i] - mu) * scale + shift;
  }
}

void batch_norm_backward_sums(const float* x, const float* dy, const float* mean, int64_t N, int64_t C, int64_t HW,
                              double* sums) {
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    double s1 = 0.0, s2 = 0.0;
    for (int64_t n = 0; n < N; ++n) add_backward_sums(x + (n * C + c) * HW, dy + (n * C + c) * HW, HW, mean[c], s1, s2);
    sums[c] = s1, sums[C + c] = s2;
  }
  sums[2 * C] = static_cast<double>(N * HW);
}

BatchNormDxCoef batch_norm_dx_coef(const double* sums, int64_t C, int64_t c, float weight, float invstd) {
  // as in batch_norm_backward, with the sums and M of the whole (global) batch
  const double M = sums[2 * C];
  const float k = weight * invstd;
  return {k, static_cast<float>(-k * double(invstd) * invstd * sums[C + c] / M), static_cast<float>(-k * sums[c] / M)};
}

void batch_norm_backward_dx(const float* x, const float* dy, const float* weight, const float* mean,
                            const float* invstd, const double* sums, float* dx, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t p = 0; p < N * C; ++p) {
    const int64_t c = p % C;
    const BatchNormDxCoef f = batch_norm_dx_coef(sums, C, c, weight ? weight[c] : 1.0f, invstd[c]);
    const float mu = mean[c];
    const float* __restrict xr = x + p * HW;
    const float* __restrict dyr = dy + p * HW;
    float* __restrict dxr = dx + p * HW;
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) dxr[i] = f.k * dyr[i] + f.q * (xr[i] - mu) + f.r;
  }
}

}  // namespace cvtrain::cpu
