// bf16, the storage type of bf16 tensors: kernels load it into float, compute in float and round
// back to nearest even on store (load_f32 / store_as). In base/ so that backend kernels and tensor/
// share it without including each other.
#pragma once
#include <cstdint>
#include <cstring>

namespace cvtrain {

struct bf16 {
  uint16_t bits;
};

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

}  // namespace cvtrain
