// Element types and the device tag. bf16 is a storage type (base/bf16.h: kernels load it into float,
// compute in float and round back to nearest even on store).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cvtrain/base/bf16.h"

namespace cvtrain {

enum class DType : uint8_t { f32, bf16, i32, i64, u8 };

// cuda: memory of a GPU, reached through the cuda::Runtime its Storage holds (backend/cuda).
enum class Device : uint8_t { cpu, cuda };

size_t dtype_size(DType t);
const char* dtype_name(DType t);

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };

template <> struct DTypeOf<bf16> { static constexpr DType value = DType::bf16; };

// f(T{}) with T the element type of an activation: bf16 for DType::bf16, else float (callers have
// checked it is one of the two). For ops calling kernels templated on the storage type.
template <class F>
void with_element_type(DType t, F&& f) {
  if (t == DType::bf16)
    f(bf16{});
  else
    f(0.0f);
}

}  // namespace cvtrain
