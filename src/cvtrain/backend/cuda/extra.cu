// CUDA twins of the smaller kernels recipes need beyond the core set: dropout (the same Philox4x32-10
// bits as cpu::dropout_forward, so masks match the CPU's exactly), softmax and log-softmax over rows,
// cross-entropy with probability targets (mixup, cutmix), the Adam/AdamW update and a clamp. One warp per
// row for the row kernels (K is the class count: small); the mean loss in one block, fixed order.
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/backend/cuda/runtime_impl.h"
#include "cvtrain/base/philox.h"

namespace cvtrain::cuda {

namespace {

#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); i += int64_t{gridDim.x} * blockDim.x)

// One thread per counter block of 4 elements (cpu::dropout_forward's layout).
__global__ void dropout_fwd(const float* x, float* y, float* mask, float p, uint64_t seed, uint64_t stream, int64_t n,
                            float scale) {
  GRID_STRIDE(b, (n + 3) / 4) {
    uint32_t rr[4];
    philox4x32_into(seed, stream, static_cast<uint64_t>(b), rr);
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) {
      const int64_t i = 4 * b + j;
      const float m = philox_to_unit(rr[j]) >= p ? scale : 0.0f;
      mask[i] = m;
      y[i] = x[i] * m;
    }
  }
}

__global__ void mul_kernel(const float* a, const float* b, float* c, int64_t n) { GRID_STRIDE(i, n) c[i] = a[i] * b[i]; }

// Row max and sum of exp(x - max) for row n over one warp (all lanes get them).
__device__ inline void row_stats(const float* x, int64_t K, int lane, float& m, float& s) {
  m = -INFINITY;
  for (int64_t k = lane; k < K; k += 32) m = fmaxf(m, x[k]);
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  s = 0.0f;
  for (int64_t k = lane; k < K; k += 32) s += expf(x[k] - m);
  for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
}

__device__ inline float warp_sum(float v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// log_out: log-softmax instead of softmax
__global__ void softmax_fwd(const float* x, float* y, int64_t N, int64_t K, bool log_out) {
  const int64_t n = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  float m, s;
  row_stats(x + n * K, K, lane, m, s);
  const float ls = logf(s), inv = 1.0f / s;
  for (int64_t k = lane; k < K; k += 32) y[n * K + k] = log_out ? x[n * K + k] - m - ls : expf(x[n * K + k] - m) * inv;
}

// softmax: dx = y (dy - sum(dy y)); log-softmax: dx = dy - exp(y) sum(dy)
__global__ void softmax_bwd(const float* y, const float* dy, float* dx, int64_t N, int64_t K, bool log_out) {
  const int64_t n = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  const float* yr = y + n * K;
  const float* g = dy + n * K;
  float acc = 0.0f;
  for (int64_t k = lane; k < K; k += 32) acc += log_out ? g[k] : g[k] * yr[k];
  acc = warp_sum(acc);
  for (int64_t k = lane; k < K; k += 32) dx[n * K + k] = log_out ? g[k] - expf(yr[k]) * acc : yr[k] * (g[k] - acc);
}

// row_loss[n] = sum_k t (log s + m - x) = log(s) sum(t) - sum(t (x - m)); prob = softmax
__global__ void ce_soft_fwd(const float* x, const float* t, float* prob, float* row_loss, int64_t N, int64_t K) {
  const int64_t n = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  const float* xr = x + n * K;
  const float* tr = t + n * K;
  float m, s;
  row_stats(xr, K, lane, m, s);
  const float inv = 1.0f / s;
  float st = 0.0f, stx = 0.0f;
  for (int64_t k = lane; k < K; k += 32) {
    prob[n * K + k] = expf(xr[k] - m) * inv;
    st += tr[k];
    stx += tr[k] * (xr[k] - m);
  }
  st = warp_sum(st), stx = warp_sum(stx);
  if (lane == 0) row_loss[n] = logf(s) * st - stx;
}

// dlogits = (prob sum_k t - t) dloss / N
__global__ void ce_soft_bwd(const float* prob, const float* t, const float* dloss, float* dx, int64_t N, int64_t K) {
  const int64_t n = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  float st = 0.0f;
  for (int64_t k = lane; k < K; k += 32) st += t[n * K + k];
  st = warp_sum(st);
  const float g = dloss[0] / static_cast<float>(N);
  for (int64_t k = lane; k < K; k += 32) dx[n * K + k] = (prob[n * K + k] * st - t[n * K + k]) * g;
}

__device__ inline float l1_sign(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }

// optim/adaptive.cpp's Adam::step loop, one element per thread
__global__ void adam_kernel(float* theta, const float* grad, float* m, float* v, int64_t n, float beta1, float beta2,
                            float epsilon, float step_size, float bc2_sqrt, float lambda, float lambda1, float decay,
                            bool decoupled) {
  GRID_STRIDE(i, n) {
    float g = grad[i];
    if (lambda1 != 0.0f) g = g + lambda1 * l1_sign(theta[i]);
    if (decoupled && lambda != 0.0f) theta[i] = theta[i] * decay;
    if (!decoupled && lambda != 0.0f) g = g + lambda * theta[i];
    m[i] = beta1 * m[i] + (1.0f - beta1) * g;
    v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
    const float denom = sqrtf(v[i]) / bc2_sqrt + epsilon;
    theta[i] = theta[i] - step_size * (m[i] / denom);
  }
}

__global__ void clamp_kernel(float* x, float lo, float hi, int64_t n) { GRID_STRIDE(i, n) x[i] = fminf(fmaxf(x[i], lo), hi); }

unsigned rows_grid(int64_t N) { return static_cast<unsigned>((N * 32 + 255) / 256); }

}  // namespace

void dropout_forward(Runtime& rt, const float* x, float* y, float* mask, float p, uint64_t seed, uint64_t stream,
                     int64_t n, float keep_scale) {
  CUDA_PROFILE(rt, "dropout_forward");
  if (n == 0) return;
  const float scale = keep_scale < 0.0f ? 1.0f / (1.0f - p) : keep_scale;
  dropout_fwd<<<blocks_for((n + 3) / 4), 256, 0, rt.impl().stream>>>(x, y, mask, p, seed, stream, n, scale);
  CUDA_CHECK(cudaGetLastError());
}

void dropout_backward(Runtime& rt, const float* dy, const float* mask, float* dx, int64_t n) {
  CUDA_PROFILE(rt, "dropout_backward");
  if (n == 0) return;
  mul_kernel<<<blocks_for(n), 256, 0, rt.impl().stream>>>(dy, mask, dx, n);
  CUDA_CHECK(cudaGetLastError());
}

void softmax_forward(Runtime& rt, const float* x, float* y, int64_t N, int64_t K, bool log) {
  CUDA_PROFILE(rt, log ? "log_softmax_forward" : "softmax_forward");
  if (N == 0) return;
  softmax_fwd<<<rows_grid(N), 256, 0, rt.impl().stream>>>(x, y, N, K, log);
  CUDA_CHECK(cudaGetLastError());
}

void softmax_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t N, int64_t K, bool log) {
  CUDA_PROFILE(rt, log ? "log_softmax_backward" : "softmax_backward");
  if (N == 0) return;
  softmax_bwd<<<rows_grid(N), 256, 0, rt.impl().stream>>>(y, dy, dx, N, K, log);
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_soft_forward(Runtime& rt, const float* logits, const float* targets, float* prob, float* row_loss,
                                float* loss, int64_t N, int64_t K) {
  CUDA_PROFILE(rt, "cross_entropy_soft_forward");
  ce_soft_fwd<<<rows_grid(N), 256, 0, rt.impl().stream>>>(logits, targets, prob, row_loss, N, K);
  mean_on_device(rt, row_loss, loss, N);
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_soft_backward(Runtime& rt, const float* prob, const float* targets, const float* dloss,
                                 float* dlogits, int64_t N, int64_t K) {
  CUDA_PROFILE(rt, "cross_entropy_soft_backward");
  ce_soft_bwd<<<rows_grid(N), 256, 0, rt.impl().stream>>>(prob, targets, dloss, dlogits, N, K);
  CUDA_CHECK(cudaGetLastError());
}

void clamp_inplace(Runtime& rt, float* x, float lo, float hi, int64_t n) {
  CUDA_PROFILE(rt, "clamp_inplace");
  if (n == 0) return;
  clamp_kernel<<<blocks_for(n), 256, 0, rt.impl().stream>>>(x, lo, hi, n);
  CUDA_CHECK(cudaGetLastError());
}

void adam_step(Runtime& rt, float* theta, const float* grad, float* m, float* v, int64_t n, float beta1, float beta2,
               float epsilon, float step_size, float bias_correction2_sqrt, float lambda, float lambda1, float decay,
               bool decoupled) {
  CUDA_PROFILE(rt, "adam_step");
  if (n == 0) return;
  adam_kernel<<<blocks_for(n), 256, 0, rt.impl().stream>>>(theta, grad, m, v, n, beta1, beta2, epsilon, step_size,
                                                           bias_correction2_sqrt, lambda, lambda1, decay, decoupled);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace cvtrain::cuda
