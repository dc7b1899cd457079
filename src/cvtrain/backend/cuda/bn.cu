// Batch normalization in training mode on our own kernels, over x: (N,C,HW) f32, and the fused
// y = relu(bn(x) + residual) of ops::batch_norm_add_relu (either part optional). Statistics in two
// passes of kernels: a (C, S) grid where block (c, s) sums a slice of samples of channel c (shifted
// by a value of that slice, so no cancellation), then one thread per channel merges the S partial
// means and squared deviations in double (Chan et al. 1979, the pairwise update) in a fixed order:
// deterministic, and no channel waits on one block. float4 loads where HW % 4 == 0. Evaluation mode
// stays in dnn.cu. Ioffe & Szegedy 2015 for the backward: dx = w invstd (dz - mean(dz) - xhat mean(dz xhat)).
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::cuda {

namespace {

constexpr int kThreads = 256;

// Block-wide sum of two floats (all threads get the result through shared memory).
__device__ inline float2 block_sum2(float a, float b) {
  __shared__ float2 warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o /= 2) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = make_float2(a, b);
  __syncthreads();
  float2 t = make_float2(0.0f, 0.0f);
  if (threadIdx.x == 0)
    for (int w = 0; w < kThreads / 32; ++w) t.x += warp_sums[w].x, t.y += warp_sums[w].y;
  return t;  // valid in thread 0
}

// How the N samples are split among the S blocks of one channel: `per` samples each.
struct Split {
  int64_t per;
  int S;
};
Split split_for(int64_t N, int64_t C, int64_t HW) {
  int64_t s = std::max<int64_t>(1, 1024 / std::max<int64_t>(C, 1));  // about 1024 blocks in all
  s = std::min<int64_t>(s, std::max<int64_t>(1, N * HW / 2048));     // at least ~2048 values per block
  s = std::min<int64_t>(s, N);
  const int64_t per = (N + s - 1) / s;
  return {per, static_cast<int>((N + per - 1) / per)};
}

// Visits the values of channel c in samples [n0, n1): f(value index in x, 4 values or 1).
template <bool kVec>
__device__ inline void for_slice(int64_t c, int64_t n0, int64_t n1, int64_t C, int64_t HW, auto&& f) {
  if constexpr (kVec) {
    const int64_t HW4 = HW / 4, L = (n1 - n0) * HW4;
    for (int64_t q = threadIdx.x; q < L; q += blockDim.x) f(((n0 + q / HW4) * C + c) * HW + (q % HW4) * 4);
  } else {
    const int64_t L = (n1 - n0) * HW;
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x) f(((n0 + j / HW) * C + c) * HW + j % HW);
  }
}

template <bool kVec>
__device__ inline float4 load(const float* p) {
  if constexpr (kVec) return *reinterpret_cast<const float4*>(p);
  else return make_float4(*p, 0.0f, 0.0f, 0.0f);
}

// part: (C, S) of (mean, M2) for each block's slice.
template <bool kVec>
__global__ void stats_kernel(const float* __restrict__ x, int64_t N, int64_t C, int64_t HW, int64_t per,
                             float2* __restrict__ part) {
  const int64_t c = blockIdx.x, n0 = blockIdx.y * per, n1 = min(N, n0 + per);
  const float K = x[(n0 * C + c) * HW];  // the shift
  float s1 = 0.0f, s2 = 0.0f;
  for_slice<kVec>(c, n0, n1, C, HW, [&](int64_t i) {
    const float4 v = load<kVec>(x + i);
    const float a = v.x - K;
    s1 += a, s2 += a * a;
    if constexpr (kVec) {
      const float b = v.y - K, d = v.z - K, e = v.w - K;
      s1 += b + d + e, s2 += b * b + d * d + e * e;
    }
  });
  const float2 t = block_sum2(s1, s2);
  if (threadIdx.x == 0) {
    const float L = static_cast<float>((n1 - n0) * HW);
    part[c * gridDim.y + blockIdx.y] = make_float2(K + t.x / L, fmaxf(0.0f, t.y - t.x * t.x / L));
  }
}

// One thread per channel: merge the S partials, save the statistics, update the running ones
// (PyTorch: momentum, unbiased variance), and the affine coefficients y = x scale + shift.
__global__ void stats_finish(const float2* part, int S, int64_t N, int64_t per, int64_t C, int64_t HW,
                             const float* weight, const float* bias, float momentum, float eps, float* save_mean,
                             float* save_invstd, float* running_mean, float* running_var, float* coef) {
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= C) return;
  double n = 0, mean = 0, m2 = 0;
  for (int s = 0; s < S; ++s) {  // Chan et al.: merge (n, mean, m2) with the slice's
    const double nb = static_cast<double>((min(N, (s + 1) * per) - s * per) * HW);
    const float2 p = part[c * S + s];
    const double delta = p.x - mean, nt = n + nb;
    mean += delta * nb / nt;
    m2 += p.y + delta * delta * n * nb / nt;
    n = nt;
  }
  const double var = m2 / n;
  const float invstd = static_cast<float>(1.0 / sqrt(var + eps));
  save_mean[c] = static_cast<float>(mean);
  save_invstd[c] = invstd;
  if (running_mean) {
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * static_cast<float>(mean);
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * static_cast<float>(m2 / (n - 1));
  }
  const float scale = (weight ? weight[c] : 1.0f) * invstd;
  coef[c] = scale;
  coef[C + c] = (bias ? bias[c] : 0.0f) - static_cast<float>(mean) * scale;
}

template <bool kRes, bool kRelu>
__device__ inline float affine(float v, float scale, float shift, float r) {
  float y = v * scale + shift;
  if constexpr (kRes) y += r;
  if constexpr (kRelu) y = fmaxf(y, 0.0f);
  return y;
}

// y = [relu](x scale[c] + shift[c] [+ r]); with kVec, i counts float4s (HW % 4 == 0).
template <bool kVec, bool kRes, bool kRelu>
__global__ void apply_kernel(const float* __restrict__ x, const float* __restrict__ coef, const float* __restrict__ r,
                             float* __restrict__ y, int64_t C, int64_t HW, int64_t n) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += step) {
    if constexpr (kVec) {
      const int64_t c = (i * 4 / HW) % C;
      const float sc = coef[c], sh = coef[C + c];
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      const float4 rv = kRes ? reinterpret_cast<const float4*>(r)[i] : make_float4(0, 0, 0, 0);
      reinterpret_cast<float4*>(y)[i] =
          make_float4(affine<kRes, kRelu>(v.x, sc, sh, rv.x), affine<kRes, kRelu>(v.y, sc, sh, rv.y),
                      affine<kRes, kRelu>(v.z, sc, sh, rv.z), affine<kRes, kRelu>(v.w, sc, sh, rv.w));
    } else {
      const int64_t c = (i / HW) % C;
      y[i] = affine<kRes, kRelu>(x[i], coef[c], coef[C + c], kRes ? r[i] : 0.0f);
    }
  }
}

// part: (C, S) of (sum dz, sum dz (x - mean)), dz = dy masked by y > 0 when kRelu.
template <bool kVec, bool kRelu>
__global__ void bwd_reduce_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                  const float* __restrict__ dy, const float* __restrict__ mean, int64_t N, int64_t C,
                                  int64_t HW, int64_t per, float2* __restrict__ part) {
  const int64_t c = blockIdx.x, n0 = blockIdx.y * per, n1 = min(N, n0 + per);
  const float m = mean[c];
  float s1 = 0.0f, s2 = 0.0f;
  for_slice<kVec>(c, n0, n1, C, HW, [&](int64_t i) {
    const float4 xv = load<kVec>(x + i), g = load<kVec>(dy + i);
    float4 yv = make_float4(1, 1, 1, 1);
    if constexpr (kRelu) yv = load<kVec>(y + i);
    const float d0 = yv.x > 0.0f ? g.x : 0.0f;
    s1 += d0, s2 += d0 * (xv.x - m);
    if constexpr (kVec) {
      const float d1 = yv.y > 0.0f ? g.y : 0.0f, d2 = yv.z > 0.0f ? g.z : 0.0f, d3 = yv.w > 0.0f ? g.w : 0.0f;
      s1 += d1 + d2 + d3, s2 += d1 * (xv.y - m) + d2 * (xv.z - m) + d3 * (xv.w - m);
    }
  });
  const float2 t = block_sum2(s1, s2);
  if (threadIdx.x == 0) part[c * gridDim.y + blockIdx.y] = t;
}

// One thread per channel: dweight, dbias, and dx = k dz + alpha x + beta as coef (k, alpha, beta).
__global__ void bwd_finish(const float2* part, int S, int64_t M, int64_t C, const float* weight, const float* mean,
                           const float* invstd, float* dweight, float* dbias, float* coef) {
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= C) return;
  double s1 = 0, s2 = 0;
  for (int s = 0; s < S; ++s) s1 += part[c * S + s].x, s2 += part[c * S + s].y;
  const double is = invstd[c], k = (weight ? weight[c] : 1.0f) * is;
  if (dbias) dbias[c] = static_cast<float>(s1);
  if (dweight) dweight[c] = static_cast<float>(s2 * is);
  const double alpha = -k * is * is * s2 / static_cast<double>(M);
  coef[c] = static_cast<float>(k);
  coef[C + c] = static_cast<float>(alpha);
  coef[2 * C + c] = static_cast<float>(-k * s1 / static_cast<double>(M) - alpha * mean[c]);
}

template <bool kRelu>
__device__ inline void bwd_one(float xv, float yv, float g, float k, float a, float b, float& dx, float& dr) {
  const float dz = (!kRelu || yv > 0.0f) ? g : 0.0f;
  dr = dz;
  dx = k * dz + a * xv + b;
}

template <bool kVec, bool kRelu>
__global__ void bwd_dx_kernel(const float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ dy,
                              const float* __restrict__ coef, float* __restrict__ dx, float* __restrict__ dres,
                              int64_t C, int64_t HW, int64_t n) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += step) {
    const int64_t c = ((kVec ? i * 4 : i) / HW) % C;
    const float k = coef[c], a = coef[C + c], b = coef[2 * C + c];
    if constexpr (kVec) {
      const float4 xv = reinterpret_cast<const float4*>(x)[i], g = reinterpret_cast<const float4*>(dy)[i];
      const float4 yv = kRelu ? reinterpret_cast<const float4*>(y)[i] : make_float4(1, 1, 1, 1);
      float4 o, r;
      bwd_one<kRelu>(xv.x, yv.x, g.x, k, a, b, o.x, r.x);
      bwd_one<kRelu>(xv.y, yv.y, g.y, k, a, b, o.y, r.y);
      bwd_one<kRelu>(xv.z, yv.z, g.z, k, a, b, o.z, r.z);
      bwd_one<kRelu>(xv.w, yv.w, g.w, k, a, b, o.w, r.w);
      if (dx) reinterpret_cast<float4*>(dx)[i] = o;
      if (dres) reinterpret_cast<float4*>(dres)[i] = r;
    } else {
      float o, r;
      bwd_one<kRelu>(x[i], kRelu ? y[i] : 1.0f, dy[i], k, a, b, o, r);
      if (dx) dx[i] = o;
      if (dres) dres[i] = r;
    }
  }
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void batch_norm_act_forward_train(Runtime& rt, const float* x, const float* weight, const float* bias,
                                  const float* residual, bool relu, float* y, float* save_mean, float* save_invstd,
                                  float* running_mean, float* running_var, float momentum, float eps, int64_t N,
                                  int64_t C, int64_t HW) {
  CUDA_PROFILE(rt, residual || relu ? "batch_norm_act_forward" : "batch_norm_forward_train");
  CHECK(N * HW > 1, "batch_norm: training needs more than one value per channel");
  if (C == 0) return;
  cudaStream_t st = rt.impl().stream;
  const Split sp = split_for(N, C, HW);
  Scratch part(rt, static_cast<size_t>(C * sp.S) * sizeof(float2)), coef(rt, static_cast<size_t>(2 * C) * sizeof(float));
  const bool vec = HW % 4 == 0 && aligned16(x) && aligned16(y) && aligned16(residual);
  const dim3 grid(static_cast<unsigned>(C), static_cast<unsigned>(sp.S));
  if (vec) stats_kernel<true><<<grid, kThreads, 0, st>>>(x, N, C, HW, sp.per, part.as<float2>());
  else stats_kernel<false><<<grid, kThreads, 0, st>>>(x, N, C, HW, sp.per, part.as<float2>());
  stats_finish<<<static_cast<unsigned>((C + 127) / 128), 128, 0, st>>>(
      part.as<float2>(), sp.S, N, sp.per, C, HW, weight, bias, momentum, eps, save_mean, save_invstd, running_mean,
      running_var, coef.as<float>());
  const int64_t n = vec ? N * C * HW / 4 : N * C * HW;
  const float* cf = coef.as<float>();
  const unsigned blocks = blocks_for(n, kThreads);
#define CVTRAIN_BN_APPLY(V, R, L) apply_kernel<V, R, L><<<blocks, kThreads, 0, st>>>(x, cf, residual, y, C, HW, n)
  const int which = (vec ? 4 : 0) + (residual ? 2 : 0) + (relu ? 1 : 0);
  switch (which) {
    case 7: CVTRAIN_BN_APPLY(true, true, true); break;
    case 6: CVTRAIN_BN_APPLY(true, true, false); break;
    case 5: CVTRAIN_BN_APPLY(true, false, true); break;
    case 4: CVTRAIN_BN_APPLY(true, false, false); break;
    case 3: CVTRAIN_BN_APPLY(false, true, true); break;
    case 2: CVTRAIN_BN_APPLY(false, true, false); break;
    case 1: CVTRAIN_BN_APPLY(false, false, true); break;
    default: CVTRAIN_BN_APPLY(false, false, false); break;
  }
#undef CVTRAIN_BN_APPLY
  CUDA_CHECK(cudaGetLastError());
}

void batch_norm_act_backward_train(Runtime& rt, const float* x, const float* y, const float* dy, const float* weight,
                                   const float* mean, const float* invstd, bool relu, float* dx, float* dweight,
                                   float* dbias, float* dresidual, int64_t N, int64_t C, int64_t HW) {
  CUDA_PROFILE(rt, relu || dresidual ? "batch_norm_act_backward" : "batch_norm_backward");
  if (C == 0) return;
  CHECK(!relu || y, "batch_norm_act_backward: relu needs the forward's output");
  cudaStream_t st = rt.impl().stream;
  const Split sp = split_for(N, C, HW);
  Scratch part(rt, static_cast<size_t>(C * sp.S) * sizeof(float2)), coef(rt, static_cast<size_t>(3 * C) * sizeof(float));
  const bool vec = HW % 4 == 0 && aligned16(x) && aligned16(y) && aligned16(dy) && aligned16(dx) && aligned16(dresidual);
  const dim3 grid(static_cast<unsigned>(C), static_cast<unsigned>(sp.S));
  float2* pp = part.as<float2>();
  const int which = (vec ? 2 : 0) + (relu ? 1 : 0);
  if (which == 3) bwd_reduce_kernel<true, true><<<grid, kThreads, 0, st>>>(x, y, dy, mean, N, C, HW, sp.per, pp);
  else if (which == 2) bwd_reduce_kernel<true, false><<<grid, kThreads, 0, st>>>(x, y, dy, mean, N, C, HW, sp.per, pp);
  else if (which == 1) bwd_reduce_kernel<false, true><<<grid, kThreads, 0, st>>>(x, y, dy, mean, N, C, HW, sp.per, pp);
  else bwd_reduce_kernel<false, false><<<grid, kThreads, 0, st>>>(x, y, dy, mean, N, C, HW, sp.per, pp);
  bwd_finish<<<static_cast<unsigned>((C + 127) / 128), 128, 0, st>>>(pp, sp.S, N * HW, C, weight, mean, invstd,
                                                                     dweight, dbias, coef.as<float>());
  if (dx || dresidual) {
    const int64_t n = vec ? N * C * HW / 4 : N * C * HW;
    const unsigned blocks = blocks_for(n, kThreads);
    const float* cf = coef.as<float>();
    if (which == 3) bwd_dx_kernel<true, true><<<blocks, kThreads, 0, st>>>(x, y, dy, cf, dx, dresidual, C, HW, n);
    else if (which == 2) bwd_dx_kernel<true, false><<<blocks, kThreads, 0, st>>>(x, y, dy, cf, dx, dresidual, C, HW, n);
    else if (which == 1) bwd_dx_kernel<false, true><<<blocks, kThreads, 0, st>>>(x, y, dy, cf, dx, dresidual, C, HW, n);
    else bwd_dx_kernel<false, false><<<blocks, kThreads, 0, st>>>(x, y, dy, cf, dx, dresidual, C, HW, n);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace cvtrain::cuda
