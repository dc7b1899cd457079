// Storage: a reference-counted, 64-byte aligned buffer on a device. Tensors are views over it.
// Not a caching allocator (that comes with the performance work); allocation is plain aligned new.
#pragma once
#include <cstddef>
#include <memory>

#include "cvtrain/tensor/dtype.h"

namespace cvtrain {

class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::cpu);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t nbytes, Device device) : data_(data), nbytes_(nbytes), device_(device) {}
  void* data_;
  size_t nbytes_;
  Device device_;
};

}  // namespace cvtrain
