// cuBLAS and cuDNN behind the cpu:: signatures: row-major gemm and linear on cublasSgemm (the
// column-major trick: C^T = op(B)^T op(A)^T), convolution on cuDNN with algorithms found once per
// shape by cudnnFind* (what torch.backends.cudnn.benchmark does) and cached with their descriptors
// in the Runtime, batch norm training forward/backward on cuDNN's spatial batch norm (same
// running-statistics rule as PyTorch: momentum, unbiased variance) when RuntimeOptions::own_batch_norm
// is off (else bn.cu), evaluation on our kernels.
#include <cstdio>

#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::cuda {

// ---- matrix products ----

void gemm(Runtime& rt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  CUDA_PROFILE(rt, "gemm");
  if (M == 0 || N == 0) return;
  // bf16 (train.precision: bf16): A and B read as bf16 copies, f32 accumulation and output
  // (CUBLAS_COMPUTE_32F). Small products stay f32: the copies would cost more than they save.
  if (rt.bf16() && rt.options().bf16_gemm && K >= 64 && M * N * K >= (int64_t{1} << 22)) {
    const int64_t na = (trans_a ? K : M) * lda, nb = (trans_b ? N : K) * ldb;
    Scratch ab(rt, na * sizeof(__nv_bfloat16)), bb(rt, nb * sizeof(__nv_bfloat16));
    to_bf16(rt, A, ab.as<__nv_bfloat16>(), 1, 1, na, false);
    to_bf16(rt, B, bb.as<__nv_bfloat16>(), 1, 1, nb, false);
    CUBLAS_CHECK(cublasGemmEx(rt.impl().cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                              static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
                              bb.as<__nv_bfloat16>(), CUDA_R_16BF, static_cast<int>(ldb), ab.as<__nv_bfloat16>(),
                              CUDA_R_16BF, static_cast<int>(lda), &beta, C, CUDA_R_32F, static_cast<int>(ldc),
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  // Row-major C (M,N) is column-major C^T (N,M) = op(B)^T op(A)^T: swap the operands, keep the flags.
  CUBLAS_CHECK(cublasSgemm(rt.impl().cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                           static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B,
                           static_cast<int>(ldb), A, static_cast<int>(lda), &beta, C, static_cast<int>(ldc)));
}

void linear_forward(Runtime& rt, const float* x, const float* w, const float* b, float* y, int64_t N, int64_t IN,
                    int64_t OUT) {
  CUDA_PROFILE(rt, "linear_forward");
  gemm(rt, false, true, N, OUT, IN, 1.0f, x, IN, w, IN, 0.0f, y, OUT);  // y = x w^T
  if (b) bias_add(rt, y, b, N, OUT, 1);
}

void linear_backward_data(Runtime& rt, const float* dy, const float* w, float* dx, int64_t N, int64_t IN,
                          int64_t OUT) {
  CUDA_PROFILE(rt, "linear_backward_data");
  gemm(rt, false, false, N, IN, OUT, 1.0f, dy, OUT, w, IN, 0.0f, dx, IN);  // dx = dy w
}

void linear_backward_weights(Runtime& rt, const float* x, const float* dy, float* dw, float* db, int64_t N,
                             int64_t IN, int64_t OUT) {
  CUDA_PROFILE(rt, "linear_backward_weights");
  gemm(rt, true, false, OUT, IN, N, 1.0f, dy, OUT, x, IN, 0.0f, dw, IN);  // dw = dy^T x
  if (db) bias_backward(rt, dy, db, N, OUT, 1);
}

// ---- convolution ----
// f32 (TF32 allowed) on NCHW as the tensors are; with Runtime::bf16() the operands are converted to
// bf16 (NHWC unless RuntimeOptions::conv_nhwc is off) and cuDNN accumulates in f32 on tensor cores
// (PSEUDO_BFLOAT16_CONFIG); the result is converted back to f32 NCHW. A shape cuDNN has no bf16
// algorithm for, or with fewer than 8 input channels per group (the stem), stays f32.

namespace {

// perf: what cudnnFind*Algorithm returned (got entries) -> the first whose trial run succeeded, or null
template <class Perf>
const Perf* first_success(const Perf* perf, int got) {
  int k = 0;
  while (k < got && perf[k].status != CUDNN_STATUS_SUCCESS) ++k;
  return k < got ? &perf[k] : nullptr;
}

void destroy(ConvPlan& p) {
  if (p.x) cudnnDestroyTensorDescriptor(p.x);
  if (p.y) cudnnDestroyTensorDescriptor(p.y);
  if (p.w) cudnnDestroyFilterDescriptor(p.w);
  if (p.conv) cudnnDestroyConvolutionDescriptor(p.conv);
  p = ConvPlan{};
}

// Descriptors and algorithms for one shape in f32 or bf16; false when cuDNN found no algorithm
// for one of the three passes (the caller then falls back to f32).
bool make_plan(Runtime& rt, const Conv2dShape& s, bool bf16, ConvPlan& p) {
  Runtime::Impl& im = rt.impl();
  auto i = [](int64_t v) { return static_cast<int>(v); };
  const bool nhwc = bf16 && rt.options().conv_nhwc;
  const cudnnDataType_t io = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const cudnnTensorFormat_t fmt = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  p.bf16 = bf16;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.x, fmt, io, i(s.N), i(s.C), i(s.H), i(s.W)));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.y, fmt, io, i(s.N), i(s.OC), i(s.OH), i(s.OW)));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p.w, io, fmt, i(s.OC), i(s.C / s.groups), i(s.KH), i(s.KW)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, i(s.pad_h), i(s.pad_w), i(s.stride_h), i(s.stride_w),
                                              i(s.dilation_h), i(s.dilation_w), CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionGroupCount(p.conv, i(s.groups)));
  CUDNN_CHECK(cudnnSetConvolutionMathType(
      p.conv, bf16 ? CUDNN_TENSOR_OP_MATH : (rt.options().allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH)));
  // cuDNN lists the algorithms fastest first; take the first that ran.
  constexpr int kMax = 8;
  int got = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
  if (cudnnFindConvolutionForwardAlgorithm(im.cudnn, p.x, p.w, p.conv, p.y, kMax, &got, fwd) != CUDNN_STATUS_SUCCESS)
    got = 0;
  const auto* f = first_success(fwd, got);
  cudnnConvolutionBwdDataAlgoPerf_t bwd_data[kMax];
  if (cudnnFindConvolutionBackwardDataAlgorithm(im.cudnn, p.w, p.y, p.conv, p.x, kMax, &got, bwd_data) !=
      CUDNN_STATUS_SUCCESS)
    got = 0;
  const auto* d = first_success(bwd_data, got);
  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[kMax];
  if (cudnnFindConvolutionBackwardFilterAlgorithm(im.cudnn, p.x, p.y, p.conv, p.w, kMax, &got, bwd_filter) !=
      CUDNN_STATUS_SUCCESS)
    got = 0;
  const auto* w = first_success(bwd_filter, got);
  if (!f || !d || !w) return false;
  p.fwd = f->algo, p.ws_fwd = f->memory, p.math_fwd = f->mathType;
  p.bwd_data = d->algo, p.ws_bwd_data = d->memory, p.math_bwd_data = d->mathType;
  p.bwd_filter = w->algo, p.ws_bwd_filter = w->memory, p.math_bwd_filter = w->mathType;
  return true;
}

// A bf16 call that cuDNN refused (seen once on an H200: CUDNN_STATUS_BAD_PARAM from an algorithm its
// own search had run): the shape falls back to f32 for good, said once on stderr. True when it did.
bool fell_back(Runtime& rt, ConvPlan& p, const Conv2dShape& s, cudnnStatus_t st, const char* pass) {
  if (st == CUDNN_STATUS_SUCCESS) return false;
  std::fprintf(stderr, "cvtrain: cuDNN bf16 convolution %s failed (%s) for N=%lld C=%lld %lldx%lld -> OC=%lld; "
               "this shape runs in f32 from now on\n", pass, cudnnGetErrorString(st), static_cast<long long>(s.N),
               static_cast<long long>(s.C), static_cast<long long>(s.H), static_cast<long long>(s.W),
               static_cast<long long>(s.OC));
  destroy(p);
  CHECK(make_plan(rt, s, false, p), "cuDNN found no f32 algorithm for the convolution N=", s.N, " C=", s.C);
  return true;
}

ConvPlan& plan_for(Runtime& rt, const Conv2dShape& s) {
  Runtime::Impl& im = rt.impl();
  const bool want_bf16 = rt.bf16() && s.C / s.groups >= 8;
  const std::vector<int64_t> key{s.N,        s.C,        s.H,          s.W,          s.OC,    s.KH,
                                 s.KW,       s.stride_h, s.stride_w,   s.pad_h,      s.pad_w, s.dilation_h,
                                 s.dilation_w, s.groups, want_bf16 ? 1 + rt.options().conv_nhwc : 0};
  auto it = im.conv_plans.find(key);
  if (it != im.conv_plans.end()) return it->second;
  ConvPlan p;
  if (!want_bf16 || !make_plan(rt, s, true, p)) {
    destroy(p);
    CHECK(make_plan(rt, s, false, p), "cuDNN found no algorithm for the convolution N=", s.N, " C=", s.C, " ", s.H,
          "x", s.W, " -> OC=", s.OC, " kernel ", s.KH, "x", s.KW);
  }
  return im.conv_plans.emplace(key, p).first->second;
}

using bf16_t = __nv_bfloat16;
constexpr size_t kB = sizeof(bf16_t);

}  // namespace

void conv2d_forward(Runtime& rt, const float* x, const float* w, const float* b, float* y, const Conv2dShape& s) {
  CUDA_PROFILE(rt, "conv2d_forward");
  ConvPlan& p = plan_for(rt, s);
  void* ws = rt.impl().ensure_workspace(p.ws_fwd);
  const float one = 1.0f, zero = 0.0f;
  if (p.bf16) {
    const bool nhwc = rt.options().conv_nhwc;
    const int64_t nx = s.N * s.C * s.H * s.W, nw = s.OC * (s.C / s.groups) * s.KH * s.KW,
                  ny = s.N * s.OC * s.OH * s.OW;
    Scratch xb(rt, nx * kB), wb(rt, nw * kB), yb(rt, ny * kB);
    to_bf16(rt, x, xb.as<bf16_t>(), s.N, s.C, s.H * s.W, nhwc);
    to_bf16(rt, w, wb.as<bf16_t>(), s.OC, s.C / s.groups, s.KH * s.KW, nhwc);
    CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.math_fwd));
    if (fell_back(rt, p, s,
                  cudnnConvolutionForward(rt.impl().cudnn, &one, p.x, xb.as<bf16_t>(), p.w, wb.as<bf16_t>(), p.conv,
                                          p.fwd, ws, p.ws_fwd, &zero, p.y, yb.as<bf16_t>()),
                  "forward"))
      return conv2d_forward(rt, x, w, b, y, s);
    from_bf16(rt, yb.as<bf16_t>(), y, s.N, s.OC, s.OH * s.OW, nhwc);
  } else {
    CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.math_fwd));
    CUDNN_CHECK(cudnnConvolutionForward(rt.impl().cudnn, &one, p.x, x, p.w, w, p.conv, p.fwd, ws, p.ws_fwd, &zero,
                                        p.y, y));
  }
  if (b) bias_add(rt, y, b, s.N, s.OC, s.OH * s.OW);
}

void conv2d_backward_data(Runtime& rt, const float* w, const float* dy, float* dx, const Conv2dShape& s) {
  conv2d_backward(rt, nullptr, w, dy, dx, nullptr, nullptr, s);
}

void conv2d_backward_weights(Runtime& rt, const float* x, const float* dy, float* dw, float* db, const Conv2dShape& s) {
  conv2d_backward(rt, x, nullptr, dy, nullptr, dw, db, s);
}

void conv2d_backward(Runtime& rt, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                     const Conv2dShape& s) {
  ConvPlan& p = plan_for(rt, s);
  Runtime::Impl& im = rt.impl();
  const float one = 1.0f, zero = 0.0f;
  if (!p.bf16) {
    if (dx) {
      CUDA_PROFILE(rt, "conv2d_backward_data");
      void* ws = im.ensure_workspace(p.ws_bwd_data);
      CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.math_bwd_data));
      CUDNN_CHECK(cudnnConvolutionBackwardData(im.cudnn, &one, p.w, w, p.y, dy, p.conv, p.bwd_data, ws, p.ws_bwd_data,
                                               &zero, p.x, dx));
    }
    if (dw) {
      CUDA_PROFILE(rt, "conv2d_backward_weights");
      void* ws = im.ensure_workspace(p.ws_bwd_filter);
      CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.math_bwd_filter));
      CUDNN_CHECK(cudnnConvolutionBackwardFilter(im.cudnn, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter, ws,
                                                 p.ws_bwd_filter, &zero, p.w, dw));
    }
  } else if (dx || dw) {
    // dy converted once for both passes
    const bool nhwc = rt.options().conv_nhwc;
    const int64_t nx = s.N * s.C * s.H * s.W, nw = s.OC * (s.C / s.groups) * s.KH * s.KW,
                  ny = s.N * s.OC * s.OH * s.OW;
    Scratch dyb(rt, ny * kB);
    to_bf16(rt, dy, dyb.as<bf16_t>(), s.N, s.OC, s.OH * s.OW, nhwc);
    if (dx) {
      CUDA_PROFILE(rt, "conv2d_backward_data");
      Scratch wb(rt, nw * kB), dxb(rt, nx * kB);
      to_bf16(rt, w, wb.as<bf16_t>(), s.OC, s.C / s.groups, s.KH * s.KW, nhwc);
      void* ws = im.ensure_workspace(p.ws_bwd_data);
      CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.math_bwd_data));
      if (fell_back(rt, p, s,
                    cudnnConvolutionBackwardData(im.cudnn, &one, p.w, wb.as<bf16_t>(), p.y, dyb.as<bf16_t>(), p.conv,
                                                 p.bwd_data, ws, p.ws_bwd_data, &zero, p.x, dxb.as<bf16_t>()),
                    "backward data"))
        return conv2d_backward(rt, x, w, dy, dx, dw, db, s);
      from_bf16(rt, dxb.as<bf16_t>(), dx, s.N, s.C, s.H * s.W, nhwc);
    }
    if (dw) {
      CUDA_PROFILE(rt, "conv2d_backward_weights");
      Scratch xb(rt, nx * kB), dwb(rt, nw * kB);
      to_bf16(rt, x, xb.as<bf16_t>(), s.N, s.C, s.H * s.W, nhwc);
      void* ws = im.ensure_workspace(p.ws_bwd_filter);
      CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.math_bwd_filter));
      if (fell_back(rt, p, s,
                    cudnnConvolutionBackwardFilter(im.cudnn, &one, p.x, xb.as<bf16_t>(), p.y, dyb.as<bf16_t>(),
                                                   p.conv, p.bwd_filter, ws, p.ws_bwd_filter, &zero, p.w,
                                                   dwb.as<bf16_t>()),
                    "backward weights"))
        return conv2d_backward(rt, x, w, dy, dx, dw, db, s);
      from_bf16(rt, dwb.as<bf16_t>(), dw, s.OC, s.C / s.groups, s.KH * s.KW, nhwc);
    }
  }
  if (db) bias_backward(rt, dy, db, s.N, s.OC, s.OH * s.OW);
}

// ---- batch normalization ----

namespace {

#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); i += int64_t{gridDim.x} * blockDim.x)

__global__ void bn_eval_fwd(const float* x, const float* w, const float* b, const float* rm, const float* rv, float eps,
                            float* y, int64_t C, int64_t HW, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t c = (i / HW) % C;
    const float scale = (w ? w[c] : 1.0f) * rsqrtf(rv[c] + eps);
    y[i] = (x[i] - rm[c]) * scale + (b ? b[c] : 0.0f);
  }
}

__global__ void invstd_kernel(const float* var, float eps, float* invstd, int64_t C) {
  GRID_STRIDE(c, C) invstd[c] = 1.0f / sqrtf(var[c] + eps);
}

// Evaluation-mode backward, statistics constant. One block per channel for dweight, dbias.
__global__ void bn_eval_bwd_params(const float* x, const float* dy, const float* mean, const float* invstd, float* dw,
                                   float* db, int64_t N, int64_t C, int64_t HW) {
  const int64_t c = blockIdx.x;
  float sdy = 0.0f, sdyx = 0.0f;
  for (int64_t j = threadIdx.x; j < N * HW; j += blockDim.x) {
    const int64_t i = ((j / HW) * C + c) * HW + j % HW;
    sdy += dy[i];
    sdyx += dy[i] * (x[i] - mean[c]);
  }
  __shared__ float a[256], bsum[256];
  a[threadIdx.x] = sdy;
  bsum[threadIdx.x] = sdyx;
  __syncthreads();
  for (int w = 128; w > 0; w /= 2) {
    if (threadIdx.x < w) {
      a[threadIdx.x] += a[threadIdx.x + w];
      bsum[threadIdx.x] += bsum[threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (db) db[c] = a[0];
    if (dw) dw[c] = bsum[0] * invstd[c];
  }
}

__global__ void bn_eval_bwd_dx(const float* dy, const float* w, const float* invstd, float* dx, int64_t C, int64_t HW,
                               int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t c = (i / HW) % C;
    dx[i] = dy[i] * (w ? w[c] : 1.0f) * invstd[c];
  }
}

struct BnDescs {
  cudnnTensorDescriptor_t x = nullptr, bn = nullptr;
  BnDescs(int64_t N, int64_t C, int64_t HW) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&bn));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(N),
                                           static_cast<int>(C), static_cast<int>(HW), 1));
    CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(bn, x, CUDNN_BATCHNORM_SPATIAL));
  }
  ~BnDescs() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(bn);
  }
};

// Ones and zeros of length C for a batch norm without weight or bias.
void ensure_ones(Runtime& rt, int64_t C) {
  Runtime::Impl& im = rt.impl();
  if (im.ones_size >= C) return;
  CUDA_CHECK(cudaStreamSynchronize(im.stream));
  if (im.ones) cudaFree(im.ones);
  if (im.zeros) cudaFree(im.zeros);
  CUDA_CHECK(cudaMalloc(&im.ones, C * sizeof(float)));
  CUDA_CHECK(cudaMalloc(&im.zeros, C * sizeof(float)));
  fill(rt, im.ones, 1.0f, C);
  fill(rt, im.zeros, 0.0f, C);
  im.ones_size = C;
}

}  // namespace

void batch_norm_forward_train(Runtime& rt, const float* x, const float* weight, const float* bias, float* y,
                              float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                              float momentum, float eps, int64_t N, int64_t C, int64_t HW) {
  if (rt.options().own_batch_norm)
    return batch_norm_act_forward_train(rt, x, weight, bias, nullptr, false, y, save_mean, save_invstd, running_mean,
                                        running_var, momentum, eps, N, C, HW);
  CUDA_PROFILE(rt, "batch_norm_forward_train");
  CHECK(eps >= CUDNN_BN_MIN_EPSILON, "batch_norm on cuda: eps ", eps, " below cuDNN's minimum ", CUDNN_BN_MIN_EPSILON);
  ensure_ones(rt, C);
  BnDescs d(N, C, HW);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      rt.impl().cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.x, x, d.x, y, d.bn, weight ? weight : rt.impl().ones,
      bias ? bias : rt.impl().zeros, momentum, running_mean, running_var, eps, save_mean, save_invstd));
}

void batch_norm_forward_eval(Runtime& rt, const float* x, const float* weight, const float* bias,
                             const float* running_mean, const float* running_var, float eps, float* y, int64_t N,
                             int64_t C, int64_t HW) {
  CUDA_PROFILE(rt, "batch_norm_forward_eval");
  const int64_t total = N * C * HW;
  if (total == 0) return;
  bn_eval_fwd<<<blocks_for(total), 256, 0, rt.impl().stream>>>(x, weight, bias, running_mean, running_var, eps, y, C,
                                                               HW, total);
  CUDA_CHECK(cudaGetLastError());
}

void invstd_from_var(Runtime& rt, const float* var, float eps, float* invstd, int64_t C) {
  CUDA_PROFILE(rt, "invstd_from_var");
  invstd_kernel<<<blocks_for(C), 256, 0, rt.impl().stream>>>(var, eps, invstd, C);
  CUDA_CHECK(cudaGetLastError());
}

void batch_norm_backward(Runtime& rt, const float* x, const float* dy, const float* weight, const float* mean,
                         const float* invstd, bool training, float* dx, float* dweight, float* dbias, int64_t N,
                         int64_t C, int64_t HW) {
  CUDA_PROFILE(rt, "batch_norm_backward");
  const int64_t total = N * C * HW;
  if (!training) {
    if (dweight || dbias)
      bn_eval_bwd_params<<<static_cast<unsigned>(C), 256, 0, rt.impl().stream>>>(x, dy, mean, invstd, dweight, dbias,
                                                                                N, C, HW);
    if (dx) bn_eval_bwd_dx<<<blocks_for(total), 256, 0, rt.impl().stream>>>(dy, weight, invstd, dx, C, HW, total);
    CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (rt.options().own_batch_norm)
    return batch_norm_act_backward_train(rt, x, nullptr, dy, weight, mean, invstd, false, dx, dweight, dbias, nullptr,
                                         N, C, HW);
  ensure_ones(rt, C);
  BnDescs d(N, C, HW);
  // cuDNN writes all three gradients: scratch for the ones not wanted.
  float* scratch = static_cast<float*>(rt.allocate(static_cast<size_t>(2 * C + (dx ? 0 : total)) * sizeof(float)));
  float* dw = dweight ? dweight : scratch;
  float* db = dbias ? dbias : scratch + C;
  float* dxx = dx ? dx : scratch + 2 * C;
  const float one = 1.0f, zero = 0.0f;
  // NOTE: with the saved statistics given, cuDNN does not use epsilon; it must only be valid.
  CUDNN_CHECK(cudnnBatchNormalizationBackward(rt.impl().cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, d.x,
                                              x, d.x, dy, d.x, dxx, d.bn, weight ? weight : rt.impl().ones, dw, db,
                                              CUDNN_BN_MIN_EPSILON, mean, invstd));
  rt.release(scratch, static_cast<size_t>(2 * C + (dx ? 0 : total)) * sizeof(float));
}

}  // namespace cvtrain::cuda
