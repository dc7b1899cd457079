// Element types and the CPU device tag. bf16 is storage and conversion only for now (round to
// nearest even); arithmetic in bf16 comes with the performance work.
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

inline bf16 float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))  // NaN stays a quiet NaN
    return bf16{static_cast<uint16_t>((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return bf16{static_cast<uint16_t>(u >> 16)};
}

inline float bf16_to_float(bf16 b) {
  uint32_t u = static_cast<uint32_t>(b.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace cvtrain
