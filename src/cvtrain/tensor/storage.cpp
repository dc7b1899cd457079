#include "cvtrain/tensor/storage.h"

#include <cstdlib>
#include <mutex>
#include <new>

#include "cvtrain/base/error.h"

namespace cvtrain {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

namespace {

constexpr size_t kAlign = 64;

// NOTE: see StorageCacheScope in storage.h for why this is per thread.
thread_local std::weak_ptr<StorageCache> t_active;

void* system_allocate(size_t rounded) {
  void* p = rounded ? std::aligned_alloc(kAlign, rounded) : nullptr;
  if (rounded && !p) throw std::bad_alloc();
  return p;
}

}  // namespace

size_t StorageCache::size_class(size_t nbytes) {
  if (nbytes <= 4096) return (nbytes + kAlign - 1) / kAlign * kAlign;
  size_t top = size_t(1) << (63 - __builtin_clzll(nbytes));  // highest power of two <= nbytes
  const size_t step = top / 8;
  return (nbytes + step - 1) / step * step;
}

void* StorageCache::take(size_t class_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_.find(class_bytes);
  if (it == free_.end() || it->second.empty()) {
    ++stats_.misses;
    return nullptr;
  }
  void* p = it->second.back();
  it->second.pop_back();
  stats_.cached_bytes -= class_bytes;
  ++stats_.hits;
  return p;
}

bool StorageCache::give(void* p, size_t class_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stats_.cached_bytes + class_bytes > limit_) return false;
  free_[class_bytes].push_back(p);
  stats_.cached_bytes += class_bytes;
  return true;
}

void StorageCache::release() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [bytes, blocks] : free_) {
    for (void* p : blocks) std::free(p);
    blocks.clear();
  }
  stats_.cached_bytes = 0;
}

StorageCache::Stats StorageCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

StorageCache::~StorageCache() { release(); }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  CHECK(device == Device::cpu, "Storage::allocate: CUDA storage needs its runtime (allocate_cuda)");
  return allocate(nbytes, device, t_active.lock());
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device, const std::shared_ptr<StorageCache>& cache) {
  if (!cache || nbytes == 0) {
    const size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
    return std::shared_ptr<Storage>(new Storage(system_allocate(rounded), nbytes, rounded, device, nullptr));
  }
  const size_t cls = StorageCache::size_class(nbytes);
  void* p = cache->take(cls);
  if (!p) p = system_allocate(cls);
  return std::shared_ptr<Storage>(new Storage(p, nbytes, cls, device, cache));
}

// CUDA storage: from the runtime's caching device allocator (backend/cuda/runtime.h).
std::shared_ptr<Storage> Storage::allocate_cuda(size_t nbytes, std::shared_ptr<cuda::Runtime> runtime) {
  CHECK(runtime, "Storage::allocate_cuda: null runtime");
  void* p = runtime->allocate(nbytes);
  auto s = std::shared_ptr<Storage>(new Storage(p, nbytes, nbytes, Device::cuda, nullptr));
  s->runtime_ = std::move(runtime);
  return s;
}

Storage::~Storage() {
  if (runtime_) {
    runtime_->release(data_, nbytes_);
    return;
  }
  if (cache_ && cache_->give(data_, capacity_)) return;
  std::free(data_);
}

StorageCacheScope::StorageCacheScope() : StorageCacheScope(std::make_shared<StorageCache>()) {}

StorageCacheScope::StorageCacheScope(std::shared_ptr<StorageCache> cache)
    : cache_(std::move(cache)), previous_(t_active) {
  t_active = cache_;
}

StorageCacheScope::~StorageCacheScope() {
  // Restores the previous cache only if this one is still the thread's (scopes nest; a scope
  // destroyed out of order or on another thread leaves the thread's choice alone).
  if (t_active.lock() == cache_) t_active = previous_;
}

std::shared_ptr<StorageCache> StorageCacheScope::active() { return t_active.lock(); }

}  // namespace cvtrain
