// Element types and the CPU device tag. bf16 is a storage type: kernels load it into float, compute
// in float and round back to nearest even on store (load_f32 / store_as below).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

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

struct bf16 {
  uint16_t bits;
};
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::bf16; };

// Branch-free, so that loops over arrays vectorize (kernels on bf16 activations call these per element).
inline bf16 float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;  // round to nearest, ties to even
  return bf16{static_cast<uint16_t>(nan ? ((u >> 16) | 0x0040u) : rounded)};  // NaN stays a quiet NaN
}

inline float bf16_to_float(bf16 b) {
  const uint32_t u = static_cast<uint32_t>(b.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Element access for kernels templated on the storage type (float or bf16), computing in float.
inline float load_f32(float v) { return v; }
inline float load_f32(bf16 v) { return bf16_to_float(v); }
template <class T> inline T store_as(float v);
template <> inline float store_as<float>(float v) { return v; }
template <> inline bf16 store_as<bf16>(float v) { return float_to_bf16(v); }

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
