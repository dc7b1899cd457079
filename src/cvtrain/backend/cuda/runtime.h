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

  // Copies on the stream; host<->device copies wait for completion (the host buffer may go away).
  void copy_to_device(void* dst, const void* src, size_t nbytes);
  void copy_to_host(void* dst, const void* src, size_t nbytes);
  void copy_device(void* dst, const void* src, size_t nbytes);
  void memset_zero(void* dst, size_t nbytes);
  void synchronize();

  const RuntimeOptions& options() const { return options_; }
  std::string device_name() const;
  std::string profile_report() const;  // per kernel: calls, total ms, share; empty unless options().profile
  void profile_reset();                // forget what was timed so far (e.g. the warm-up steps)

  struct Impl;  // CUDA-specific members (stream, handles, caches), defined in runtime.cu
  Impl& impl() { return *impl_; }

 private:
  explicit Runtime(const RuntimeOptions& options);
  RuntimeOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cvtrain::cuda
