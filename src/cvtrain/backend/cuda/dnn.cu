// cuBLAS and cuDNN behind the cpu:: signatures: row-major gemm and linear on cublasSgemm (the
// column-major trick: C^T = op(B)^T op(A)^T), convolution on cuDNN with algorithms found once per
// shape by cudnnFind* (what torch.backends.cudnn.benchmark does) and cached with their descriptors
// in the Runtime, batch norm training forward/backward on cuDNN's spatial batch norm (same
// running-statistics rule as PyTorch: momentum, unbiased variance), evaluation on our kernels.
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::cuda {

// ---- matrix products ----

void gemm(Runtime& rt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  CUDA_PROFILE(rt, "gemm");
  if (M == 0 || N == 0) return;
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

namespace {

// perf: what cudnnFind*Algorithm returned (got entries) -> the first whose trial run succeeded
template <class Perf>
const Perf& first_success(const Perf* perf, int got, const char* pass) {
  int k = 0;
  while (k < got && perf[k].status != CUDNN_STATUS_SUCCESS) ++k;
  CHECK(k < got, "cuDNN found no ", pass, " algorithm for this convolution");
  return perf[k];
}

ConvPlan& plan_for(Runtime& rt, const Conv2dShape& s) {
  Runtime::Impl& im = rt.impl();
  const std::vector<int64_t> key{s.N,        s.C,        s.H,          s.W,          s.OC,    s.KH,
                                 s.KW,       s.stride_h, s.stride_w,   s.pad_h,      s.pad_w, s.dilation_h,
                                 s.dilation_w, s.groups};
  auto it = im.conv_plans.find(key);
  if (it != im.conv_plans.end()) return it->second;
  ConvPlan p;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(s.N), i(s.C), i(s.H), i(s.W)));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(s.N), i(s.OC), i(s.OH), i(s.OW)));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, i(s.OC), i(s.C / s.groups), i(s.KH),
                                         i(s.KW)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, i(s.pad_h), i(s.pad_w), i(s.stride_h), i(s.stride_w),
                                              i(s.dilation_h), i(s.dilation_w), CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionGroupCount(p.conv, i(s.groups)));
  CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, rt.options().allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  // cuDNN lists the algorithms fastest first; take the first that ran.
  constexpr int kMax = 8;
  int got = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
  CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(im.cudnn, p.x, p.w, p.conv, p.y, kMax, &got, fwd));
  const auto& f = first_success(fwd, got, "forward");
  p.fwd = f.algo, p.ws_fwd = f.memory;
  cudnnConvolutionBwdDataAlgoPerf_t bwd_data[kMax];
  CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(im.cudnn, p.w, p.y, p.conv, p.x, kMax, &got, bwd_data));
  const auto& d = first_success(bwd_data, got, "backward-data");
  p.bwd_data = d.algo, p.ws_bwd_data = d.memory;
  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[kMax];
  CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(im.cudnn, p.x, p.y, p.conv, p.w, kMax, &got, bwd_filter));
  const auto& w = first_success(bwd_filter, got, "backward-filter");
  p.bwd_filter = w.algo, p.ws_bwd_filter = w.memory;
  return im.conv_plans.emplace(key, p).first->second;
}

}  // namespace

void conv2d_forward(Runtime& rt, const float* x, const float* w, const float* b, float* y, const Conv2dShape& s) {
  CUDA_PROFILE(rt, "conv2d_forward");
  ConvPlan& p = plan_for(rt, s);
  void* ws = rt.impl().ensure_workspace(p.ws_fwd);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionForward(rt.impl().cudnn, &one, p.x, x, p.w, w, p.conv, p.fwd, ws, p.ws_fwd, &zero, p.y,
                                      y));
  if (b) bias_add(rt, y, b, s.N, s.OC, s.OH * s.OW);
}

void conv2d_backward_data(Runtime& rt, const float* w, const float* dy, float* dx, const Conv2dShape& s) {
  CUDA_PROFILE(rt, "conv2d_backward_data");
  ConvPlan& p = plan_for(rt, s);
  void* ws = rt.impl().ensure_workspace(p.ws_bwd_data);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(rt.impl().cudnn, &one, p.w, w, p.y, dy, p.conv, p.bwd_data, ws,
                                           p.ws_bwd_data, &zero, p.x, dx));
}

void conv2d_backward_weights(Runtime& rt, const float* x, const float* dy, float* dw, float* db, const Conv2dShape& s) {
  CUDA_PROFILE(rt, "conv2d_backward_weights");
  ConvPlan& p = plan_for(rt, s);
  void* ws = rt.impl().ensure_workspace(p.ws_bwd_filter);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(rt.impl().cudnn, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter, ws,
                                             p.ws_bwd_filter, &zero, p.w, dw));
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
