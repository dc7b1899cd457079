// cuda::Runtime: everything the CUDA kernels need that is not a tensor: the device, one stream,
// the cuBLAS and cuDNN handles, cached convolution plans, and a caching device allocator. It is the
// explicit context of STYLE.md rule 12: every cuda:: kernel takes it first. Device Storage holds a
// shared_ptr to the Runtime that made it, so a tensor knows its stream (ops and their backward need
// nothing else). Plain C++ header: compiles without the CUDA toolkit; create() then fails loudly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace cvtrain::cuda {

struct RuntimeOptions {
  int device = 0;
  // TF32 tensor cores for f32 convolutions and matrix products (PyTorch's default for cuDNN).
  // The parity tests turn it off to compare with the CPU at f32 tolerances.
  bool allow_tf32 = true;
  // Time every kernel call by name (synchronizing around each: slow, for finding where time goes);
  // profile_report() prints the table. cvtrain bench sets it from CVTRAIN_CUDA_PROFILE=1.
  bool profile = false;
  // The fast paths, each switchable off so that a failure on a GPU costs one rerun, not the run.
  // create() applies the environment on top of what the caller set (docs/cuda.md, "Switches"):
  bool conv_nhwc = true;       // CVTRAIN_CUDA_NHWC=0: bf16 convolutions on NCHW descriptors instead
  bool bf16_gemm = true;       // CVTRAIN_CUDA_BF16_GEMM=0: matrix products stay f32 (TF32) under bf16
  bool own_batch_norm = true;  // CVTRAIN_CUDA_BN=cudnn: cuDNN's batch norm (training) instead of ours
  bool fused_bn = true;        // CVTRAIN_CUDA_FUSED=0: batch_norm_add_relu runs as its composition
  bool force_f32 = false;      // CVTRAIN_CUDA_BF16=0: train.precision: bf16 is ignored on the GPU
  bool async_upload = true;    // CVTRAIN_CUDA_ASYNC_COPY=0: host->device copies wait for completion
};

class Runtime {
 public:
  // Throws (InputError naming `device`) when CUDA was not compiled in or no GPU is present.
  static std::shared_ptr<Runtime> create(const RuntimeOptions& options = {});
  // 0 when the build has no CUDA or no GPU is visible; never throws.
  static int device_count();
  static bool compiled();  // CVTRAIN_CUDA=ON

  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Caching allocator: freed blocks are kept per rounded size and handed out again, so a training
  // step allocates from the driver only in its first iteration. Ordered on this runtime's one stream.
  void* allocate(size_t nbytes);
  void release(void* p, size_t nbytes);
  size_t bytes_cached() const;
  size_t bytes_in_use() const;
  void empty_cache();

  // Copies on the stream; device->host copies wait for completion. Host->device copies of 64 KiB or
  // more go through pinned staging buffers (a ring of 4) and return once the host buffer is copied
  // (a batch upload does not wait for the previous step's kernels); smaller ones, and all with
  // RuntimeOptions::async_upload off, wait for completion.
  void copy_to_device(void* dst, const void* src, size_t nbytes);
  void copy_to_host(void* dst, const void* src, size_t nbytes);
  void copy_device(void* dst, const void* src, size_t nbytes);
  void memset_zero(void* dst, size_t nbytes);
  void synchronize();

  const RuntimeOptions& options() const { return options_; }
  // Mixed precision (train.precision: bf16): convolutions and large matrix products read bf16
  // copies of their operands and accumulate in f32 on tensor cores; tensors between ops stay f32,
  // parameters and their gradients f32. Off unless the trainer sets it (and not force_f32).
  void set_bf16(bool on) { bf16_ = on && !options_.force_f32; }
  bool bf16() const { return bf16_; }
  std::string device_name() const;
  std::string profile_report() const;  // per kernel: calls, total ms, share; empty unless options().profile
  void profile_reset();                // forget what was timed so far (e.g. the warm-up steps)

  struct Impl;  // CUDA-specific members (stream, handles, caches), defined in runtime.cu
  Impl& impl() { return *impl_; }

 private:
  explicit Runtime(const RuntimeOptions& options);
  RuntimeOptions options_;
  bool bf16_ = false;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cvtrain::cuda
