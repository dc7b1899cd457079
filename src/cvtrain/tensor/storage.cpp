#include "cvtrain/tensor/storage.h"

#include <cstdlib>
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

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  constexpr size_t kAlign = 64;
  size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
  void* p = rounded ? std::aligned_alloc(kAlign, rounded) : nullptr;
  if (rounded && !p) throw std::bad_alloc();
  return std::shared_ptr<Storage>(new Storage(p, nbytes, device));
}

Storage::~Storage() { std::free(data_); }

}  // namespace cvtrain
