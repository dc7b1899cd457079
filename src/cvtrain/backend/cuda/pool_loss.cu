// CUDA twins of the pooling kernels (backend/cpu/pool.h), softmax cross-entropy
// (backend/cpu/softmax.h), the SGD update (optim/sgd.cpp) and bias add / bias gradient. One thread
// per output element for pooling, one warp per row for cross-entropy (K is small: classes), one
// block per channel for bias gradients; every sum in a fixed order (deterministic).
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::cuda {

namespace {

#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); i += int64_t{gridDim.x} * blockDim.x)

__global__ void max_pool_fwd(const float* x, float* y, int32_t* argmax, Pool2dShape s, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t ow = i % s.OW, oh = (i / s.OW) % s.OH, p = i / (s.OW * s.OH);
    const float* plane = x + p * s.H * s.W;
    float best = -INFINITY;
    int64_t best_i = -1;
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      const int64_t h = oh * s.SH - s.PH + kh;
      if (h < 0 || h >= s.H) continue;
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t w = ow * s.SW - s.PW + kw;
        if (w < 0 || w >= s.W) continue;
        const float v = plane[h * s.W + w];
        if (best_i < 0 || v > best || isnan(v)) best = v, best_i = h * s.W + w;  // as the CPU: NaN wins
      }
    }
    y[i] = best;
    argmax[i] = static_cast<int32_t>(best_i);
  }
}

// dx gathered per input element (no atomics: deterministic): the windows that can hold (h, w).
__global__ void max_pool_bwd(const float* dy, const int32_t* argmax, float* dx, Pool2dShape s, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
    const int64_t here = h * s.W + w;
    float acc = 0.0f;
    const int64_t oh0 = max(int64_t{0}, (h + s.PH - s.KH + s.SH) / s.SH), oh1 = min(s.OH - 1, (h + s.PH) / s.SH);
    const int64_t ow0 = max(int64_t{0}, (w + s.PW - s.KW + s.SW) / s.SW), ow1 = min(s.OW - 1, (w + s.PW) / s.SW);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t o = (p * s.OH + oh) * s.OW + ow;
        if (argmax[o] == here) acc += dy[o];
      }
    dx[i] = acc;
  }
}

__global__ void avg_pool_fwd(const float* x, float* y, Pool2dShape s, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t ow = i % s.OW, oh = (i / s.OW) % s.OH, p = i / (s.OW * s.OH);
    const float* plane = x + p * s.H * s.W;
    float acc = 0.0f;
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      const int64_t h = oh * s.SH - s.PH + kh;
      if (h < 0 || h >= s.H) continue;
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t w = ow * s.SW - s.PW + kw;
        if (w >= 0 && w < s.W) acc += plane[h * s.W + w];
      }
    }
    y[i] = acc / static_cast<float>(s.KH * s.KW);
  }
}

__global__ void avg_pool_bwd(const float* dy, float* dx, Pool2dShape s, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
    float acc = 0.0f;
    const int64_t oh0 = max(int64_t{0}, (h + s.PH - s.KH + s.SH) / s.SH), oh1 = min(s.OH - 1, (h + s.PH) / s.SH);
    const int64_t ow0 = max(int64_t{0}, (w + s.PW - s.KW + s.SW) / s.SW), ow1 = min(s.OW - 1, (w + s.PW) / s.SW);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) acc += dy[(p * s.OH + oh) * s.OW + ow];
    dx[i] = acc / static_cast<float>(s.KH * s.KW);
  }
}

// One warp per plane: lanes stride over HW, then a butterfly sum.
__global__ void gap_fwd(const float* x, float* y, int64_t P, int64_t HW) {
  const int64_t warp = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= P) return;
  float acc = 0.0f;
  for (int64_t j = lane; j < HW; j += 32) acc += x[warp * HW + j];
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) y[warp] = acc / static_cast<float>(HW);
}

// dx[p, j] = dy[p] / HW
__global__ void gap_bwd(const float* dy, float* dx, int64_t total, int64_t HW, float inv) {
  GRID_STRIDE(i, total) dx[i] = dy[i / HW] * inv;
}

// One warp per row: max, sum of exp, probabilities, the row's loss.
__global__ void ce_fwd(const float* logits, const int64_t* labels, float smoothing, float* prob, float* row_loss,
                       int64_t N, int64_t K) {
  const int64_t n = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  const float* x = logits + n * K;
  float m = -INFINITY;
  for (int64_t k = lane; k < K; k += 32) m = fmaxf(m, x[k]);
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  float s = 0.0f, shifted = 0.0f;
  for (int64_t k = lane; k < K; k += 32) {
    s += expf(x[k] - m);
    shifted += x[k] - m;
  }
  for (int off = 16; off > 0; off /= 2) {
    s += __shfl_xor_sync(0xffffffffu, s, off);
    shifted += __shfl_xor_sync(0xffffffffu, shifted, off);
  }
  const float inv = 1.0f / s;
  for (int64_t k = lane; k < K; k += 32) prob[n * K + k] = expf(x[k] - m) * inv;
  if (lane == 0) {
    const float off = smoothing / static_cast<float>(K), on = 1.0f - smoothing;
    row_loss[n] = logf(s) - on * (x[labels[n]] - m) - (smoothing > 0.0f ? off * shifted : 0.0f);
  }
}

// loss = mean of row_loss, one block, double accumulation as the CPU's mean_of.
__global__ void mean_kernel(const float* v, float* out, int64_t n) {
  __shared__ double part[256];
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += 256) acc += v[i];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int w = 128; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = static_cast<float>(part[0] / static_cast<double>(n));
}

__global__ void ce_bwd(const float* prob, const int64_t* labels, float smoothing, const float* dloss, float* dlogits,
                       int64_t N, int64_t K) {
  const float g = *dloss / static_cast<float>(N), off = smoothing / static_cast<float>(K), on = 1.0f - smoothing;
  GRID_STRIDE(i, N * K) {
    const int64_t n = i / K, k = i % K;
    float v = (prob[i] - off) * g;
    if (k == labels[n]) v -= on * g;
    dlogits[i] = v;
  }
}

__global__ void sgd_kernel(float* theta, const float* grad, float* b, int64_t n, float gamma, float lambda,
                           float lambda1, float mu, float tau, bool nesterov, bool first) {
  GRID_STRIDE(i, n) {
    float g = grad[i];
    if (lambda != 0.0f) g = g + lambda * theta[i];
    if (lambda1 != 0.0f) g = g + lambda1 * (theta[i] > 0.0f ? 1.0f : (theta[i] < 0.0f ? -1.0f : 0.0f));
    if (mu != 0.0f) {
      b[i] = first ? g : mu * b[i] + (1.0f - tau) * g;
      g = nesterov ? g + mu * b[i] : b[i];
    }
    theta[i] = theta[i] - gamma * g;
  }
}

__global__ void bias_add_kernel(float* y, const float* b, int64_t C, int64_t inner, int64_t total) {
  GRID_STRIDE(i, total) y[i] += b[(i / inner) % C];
}

// One block per channel; threads stride over (outer, inner).
__global__ void bias_bwd_kernel(const float* dy, float* db, int64_t outer, int64_t C, int64_t inner) {
  const int64_t c = blockIdx.x;
  float acc = 0.0f;
  for (int64_t j = threadIdx.x; j < outer * inner; j += blockDim.x) {
    const int64_t o = j / inner, k = j % inner;
    acc += dy[(o * C + c) * inner + k];
  }
  __shared__ float part[256];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int w = 128; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[c] = part[0];
}

}  // namespace

void mean_on_device(Runtime& rt, const float* v, float* out, int64_t n) {
  mean_kernel<<<1, 256, 0, rt.impl().stream>>>(v, out, n);
}

void max_pool2d_forward(Runtime& rt, const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  CUDA_PROFILE(rt, "max_pool2d_forward");
  const int64_t total = s.N * s.C * s.OH * s.OW;
  max_pool_fwd<<<blocks_for(total), 256, 0, rt.impl().stream>>>(x, y, argmax, s, total);
  CUDA_CHECK(cudaGetLastError());
}
void max_pool2d_backward(Runtime& rt, const float* dy, const int32_t* argmax, float* dx, const Pool2dShape& s) {
  CUDA_PROFILE(rt, "max_pool2d_backward");
  const int64_t total = s.N * s.C * s.H * s.W;
  max_pool_bwd<<<blocks_for(total), 256, 0, rt.impl().stream>>>(dy, argmax, dx, s, total);
  CUDA_CHECK(cudaGetLastError());
}
void avg_pool2d_forward(Runtime& rt, const float* x, float* y, const Pool2dShape& s) {
  CUDA_PROFILE(rt, "avg_pool2d_forward");
  const int64_t total = s.N * s.C * s.OH * s.OW;
  avg_pool_fwd<<<blocks_for(total), 256, 0, rt.impl().stream>>>(x, y, s, total);
  CUDA_CHECK(cudaGetLastError());
}
void avg_pool2d_backward(Runtime& rt, const float* dy, float* dx, const Pool2dShape& s) {
  CUDA_PROFILE(rt, "avg_pool2d_backward");
  const int64_t total = s.N * s.C * s.H * s.W;
  avg_pool_bwd<<<blocks_for(total), 256, 0, rt.impl().stream>>>(dy, dx, s, total);
  CUDA_CHECK(cudaGetLastError());
}
void global_avg_pool2d_forward(Runtime& rt, const float* x, float* y, int64_t P, int64_t HW) {
  CUDA_PROFILE(rt, "global_avg_pool2d_forward");
  if (P == 0) return;
  gap_fwd<<<static_cast<unsigned>((P * 32 + 255) / 256), 256, 0, rt.impl().stream>>>(x, y, P, HW);
  CUDA_CHECK(cudaGetLastError());
}
void global_avg_pool2d_backward(Runtime& rt, const float* dy, float* dx, int64_t P, int64_t HW) {
  CUDA_PROFILE(rt, "global_avg_pool2d_backward");
  const int64_t total = P * HW;
  if (total == 0) return;
  gap_bwd<<<blocks_for(total), 256, 0, rt.impl().stream>>>(dy, dx, total, HW, 1.0f / static_cast<float>(HW));
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_forward(Runtime& rt, const float* logits, const int64_t* labels, float smoothing, float* prob,
                           float* row_loss, float* loss, int64_t N, int64_t K) {
  CUDA_PROFILE(rt, "cross_entropy_forward");
  if (N == 0) return;
  ce_fwd<<<static_cast<unsigned>((N * 32 + 255) / 256), 256, 0, rt.impl().stream>>>(logits, labels, smoothing, prob,
                                                                                   row_loss, N, K);
  CUDA_CHECK(cudaGetLastError());
  mean_on_device(rt, row_loss, loss, N);
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_backward(Runtime& rt, const float* prob, const int64_t* labels, float smoothing, const float* dloss,
                            float* dlogits, int64_t N, int64_t K) {
  CUDA_PROFILE(rt, "cross_entropy_backward");
  if (N * K == 0) return;
  ce_bwd<<<blocks_for(N * K), 256, 0, rt.impl().stream>>>(prob, labels, smoothing, dloss, dlogits, N, K);
  CUDA_CHECK(cudaGetLastError());
}

void sgd_step(Runtime& rt, float* theta, const float* grad, float* buf, int64_t n, float gamma, float lambda,
              float lambda1, float mu, float tau, bool nesterov, bool first) {
  CUDA_PROFILE(rt, "sgd_step");
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n), 256, 0, rt.impl().stream>>>(theta, grad, buf, n, gamma, lambda, lambda1, mu, tau,
                                                          nesterov, first);
  CUDA_CHECK(cudaGetLastError());
}

void bias_add(Runtime& rt, float* y, const float* b, int64_t outer, int64_t C, int64_t inner) {
  CUDA_PROFILE(rt, "bias_add");
  const int64_t total = outer * C * inner;
  if (total == 0) return;
  bias_add_kernel<<<blocks_for(total), 256, 0, rt.impl().stream>>>(y, b, C, inner, total);
  CUDA_CHECK(cudaGetLastError());
}

void bias_backward(Runtime& rt, const float* dy, float* db, int64_t outer, int64_t C, int64_t inner) {
  CUDA_PROFILE(rt, "bias_backward");
  if (C == 0) return;
  bias_bwd_kernel<<<static_cast<unsigned>(C), 256, 0, rt.impl().stream>>>(dy, db, outer, C, inner);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace cvtrain::cuda
