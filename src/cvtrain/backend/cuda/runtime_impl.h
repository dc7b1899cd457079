// The CUDA side of cuda::Runtime: stream, handles, the allocator's free lists, the convolution plan
// cache and a growing workspace. Included by backend/cuda/*.cu only (it pulls in the CUDA headers).
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
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
  // the math type each algorithm was found with (set on `conv` before each call, as cuDNN asks)
  cudnnMathType_t math_fwd = CUDNN_DEFAULT_MATH, math_bwd_data = CUDNN_DEFAULT_MATH,
                  math_bwd_filter = CUDNN_DEFAULT_MATH;
  bool bf16 = false;  // descriptors in bf16 (NHWC when RuntimeOptions::conv_nhwc), f32 compute
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

  // Pinned host buffers for asynchronous uploads, each with the event of its last copy.
  struct Staging {
    void* host = nullptr;
    size_t bytes = 0;
    cudaEvent_t done = nullptr;
  };
  Staging staging[4];
  int staging_next = 0;

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

// A scratch block from the caching allocator for the length of one kernel call (stream-ordered:
// released blocks are reused only by later work on the same stream).
class Scratch {
 public:
  Scratch(Runtime& rt, size_t nbytes) : rt_(rt), n_(nbytes), p_(rt.allocate(nbytes)) {}
  ~Scratch() { rt_.release(p_, n_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(p_); }

 private:
  Runtime& rt_;
  size_t n_;
  void* p_;
};

// convert.cu: the f32 <-> bf16 copies of the bf16 convolutions and matrix products.
// x: (N,C,HW) f32 -> y: (N,HW,C) bf16 when nhwc (a tiled transpose), else (N,C,HW) bf16
void to_bf16(Runtime& rt, const float* x, __nv_bfloat16* y, int64_t N, int64_t C, int64_t HW, bool nhwc);
// y: (N,HW,C) bf16 when nhwc, else (N,C,HW) bf16 -> x: (N,C,HW) f32
void from_bf16(Runtime& rt, const __nv_bfloat16* y, float* x, int64_t N, int64_t C, int64_t HW, bool nhwc);

// out[0] = mean of v: (n), on the device, in one block with double accumulation in a fixed order (as
// the CPU's mean of the per-row losses); pool_loss.cu, shared by the losses of extra.cu.
void mean_on_device(Runtime& rt, const float* v, float* out, int64_t n);

// Launch geometry for an elementwise loop over n items: grid-stride loops, at most 4096 blocks.
inline unsigned blocks_for(int64_t n, int threads = 256) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 4096 ? 4096 : b));
}

}  // namespace cvtrain::cuda
