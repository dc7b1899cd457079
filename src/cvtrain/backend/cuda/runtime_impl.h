// The CUDA side of cuda::Runtime: stream, handles, the allocator's free lists, the convolution plan
// cache and a growing workspace. Included by backend/cuda/*.cu only (it pulls in the CUDA headers).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <chrono>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "cvtrain/backend/cuda/runtime.h"
#include "cvtrain/base/error.h"

#define CUDA_CHECK(expr)                                                                    \
  do {                                                                                      \
    cudaError_t err_ = (expr);                                                              \
    CHECK(err_ == cudaSuccess, #expr, ": ", cudaGetErrorString(err_));                      \
  } while (0)
#define CUBLAS_CHECK(expr)                                                                  \
  do {                                                                                      \
    cublasStatus_t st_ = (expr);                                                            \
    CHECK(st_ == CUBLAS_STATUS_SUCCESS, #expr, ": cuBLAS status ", static_cast<int>(st_));  \
  } while (0)
#define CUDNN_CHECK(expr)                                                                   \
  do {                                                                                      \
    cudnnStatus_t st_ = (expr);                                                             \
    CHECK(st_ == CUDNN_STATUS_SUCCESS, #expr, ": ", cudnnGetErrorString(st_));              \
  } while (0)

namespace cvtrain::cuda {

// Algorithms cuDNN picked for one convolution shape (forward, backward data, backward filter).
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  size_t ws_fwd = 0, ws_bwd_data = 0, ws_bwd_filter = 0;
};

struct Runtime::Impl {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded size -> cached blocks
  size_t bytes_cached = 0, bytes_in_use = 0;
  std::map<std::vector<int64_t>, ConvPlan> conv_plans;  // key: the Conv2dShape's fields
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // Scratch for cuDNN batch norm when the layer has no weight or bias: ones and zeros.
  float* ones = nullptr;
  float* zeros = nullptr;
  int64_t ones_size = 0;

  void* ensure_workspace(size_t nbytes);
  std::map<std::string, std::pair<double, int64_t>> profile;  // kernel -> (seconds, calls)
};

// With RuntimeOptions::profile, times the enclosing kernel call (synchronizing before and after).
class ProfileScope {
 public:
  ProfileScope(Runtime& rt, const char* name);
  ~ProfileScope();

 private:
  Runtime* rt_;
  const char* name_;
  double t0_ = 0;
};
#define CUDA_PROFILE(rt, name) ProfileScope profile_scope_(rt, name)

// Launch geometry for an elementwise loop over n items: grid-stride loops, at most 4096 blocks.
inline unsigned blocks_for(int64_t n, int threads = 256) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 4096 ? 4096 : b));
}

}  // namespace cvtrain::cuda
