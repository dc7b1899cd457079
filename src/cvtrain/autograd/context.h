// Context: everything a computation needs that is not a tensor: the RNG, the thread count, whether
// graphs are recorded, and the backend handles. Passed explicitly to every op; the library keeps
// no global state of its own.
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/dnnl_runtime.h"
#include "cvtrain/base/batchnorm_sync.h"
#include "cvtrain/backend/cuda/runtime.h"
#include "cvtrain/tensor/rng.h"
#include "cvtrain/tensor/storage.h"

namespace cvtrain {

struct Context {
  explicit Context(uint64_t seed = 0, int threads = 0) : rng(seed), threads(threads) {}

  Rng rng;
  int threads;  // 0: whatever OpenMP has; the program sets OpenMP's count from this once, in main
  bool grad_enabled = true;
  cpu::DnnlRuntime dnnl;
  // The GPU's stream, handles and allocator when the run's device is cuda (backend/cuda/runtime.h), else null.
  std::shared_ptr<cuda::Runtime> cuda;
  // Caching allocator for tensors allocated on the thread that made this Context (tensor/storage.h).
  StorageCacheScope storage;
  // train.sync_bn: training batch norm sums its statistics over all data-parallel ranks
  // through this (base/batchnorm_sync.h; the trainer sets it for the run, dist/ implements it); null: local.
  BatchNormSync* batchnorm_sync = nullptr;
};

// Ops run inside this scope record no graph (evaluation, optimizer updates).
class NoGradGuard {
 public:
  explicit NoGradGuard(Context& ctx) : ctx_(ctx), prev_(ctx.grad_enabled) { ctx.grad_enabled = false; }
  ~NoGradGuard() { ctx_.grad_enabled = prev_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  Context& ctx_;
  bool prev_;
};

}  // namespace cvtrain
