// Storage: a reference-counted, 64-byte aligned buffer on a device. Tensors are views over it.
// StorageCache: a caching allocator for Storage, owned by a Context (Context::storage), so that a
// training step in its steady state takes every buffer from the cache instead of malloc/mmap.
// Not a general-purpose allocator: blocks are kept per size class, never split or merged.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cvtrain/backend/cuda/runtime.h"
#include "cvtrain/tensor/dtype.h"

namespace cvtrain {

// Freed Storage blocks kept by size class for the next allocation of the same class. A step frees
// and reallocates the same activation and gradient buffers every time, so after the first step
// every allocation is a hit. Size classes: multiples of 64 bytes up to 4 KiB, then 8 classes per
// power of two (at most 12.5% unused). Blocks outlive nothing: a Storage keeps its cache alive and
// hands its block back on destruction, from whichever thread (a mutex guards the lists).
class StorageCache {
 public:
  explicit StorageCache(size_t limit_bytes = size_t(2) << 30) : limit_(limit_bytes) {}
  ~StorageCache();
  StorageCache(const StorageCache&) = delete;
  StorageCache& operator=(const StorageCache&) = delete;

  static size_t size_class(size_t nbytes);
  // A block of exactly size_class(bytes) bytes from the cache, or null when none is free.
  void* take(size_t class_bytes);
  // Keeps the block for reuse; false (and the caller frees it) when the cache holds limit_ bytes.
  bool give(void* p, size_t class_bytes);
  // Frees every cached block (memory in use stays in use).
  void release();

  struct Stats {
    int64_t hits = 0, misses = 0;  // allocations served from the cache / by the system
    size_t cached_bytes = 0;       // free blocks held now
  };
  Stats stats() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // class bytes -> free blocks
  size_t limit_;
  Stats stats_;
  friend class Storage;
};

class Storage {
 public:
  // From the calling thread's active cache (see StorageCacheScope) when there is one, else from the
  // system.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::cpu);  // the CPU only
  static std::shared_ptr<Storage> allocate_cuda(size_t nbytes, std::shared_ptr<cuda::Runtime> runtime);
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device, const std::shared_ptr<StorageCache>& cache);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // The runtime of CUDA storage (null on the CPU).
  const std::shared_ptr<cuda::Runtime>& cuda_runtime() const { return runtime_; }

 private:
  Storage(void* data, size_t nbytes, size_t capacity, Device device, std::shared_ptr<StorageCache> cache)
      : data_(data), nbytes_(nbytes), capacity_(capacity), device_(device), cache_(std::move(cache)) {}
  void* data_;
  size_t nbytes_;
  size_t capacity_;  // the block's size class when it came from a cache
  Device device_;
  std::shared_ptr<StorageCache> cache_;
  std::shared_ptr<cuda::Runtime> runtime_;  // CUDA storage: its block goes back to this runtime's cache
};

// Owns a StorageCache and makes it the active one of the thread that constructs it, for as long as
// it lives (the previous one comes back after). A Context holds one, so every tensor allocated on
// the thread that made the Context comes from that Context's cache.
// NOTE: the one piece of thread-local state in the library. Tensor::empty takes no Context (the ops
// call it in some sixty places), so the active cache is found through the thread: a weak pointer
// per thread, set and restored by this scope only; the cache it points at is the Context's own.
// Other threads (data-loader workers) have none and allocate from the system.
class StorageCacheScope {
 public:
  StorageCacheScope();
  explicit StorageCacheScope(std::shared_ptr<StorageCache> cache);
  ~StorageCacheScope();
  StorageCacheScope(const StorageCacheScope&) = delete;
  StorageCacheScope& operator=(const StorageCacheScope&) = delete;

  StorageCache& cache() { return *cache_; }
  const std::shared_ptr<StorageCache>& shared() const { return cache_; }
  // The calling thread's active cache, or null.
  static std::shared_ptr<StorageCache> active();

 private:
  std::shared_ptr<StorageCache> cache_;
  std::weak_ptr<StorageCache> previous_;
};

}  // namespace cvtrain
