#include "cvtrain/tensor/rng.h"

#include <cmath>

namespace cvtrain {

uint32_t Rng::next_u32() {
  uint64_t i = seq_++;
  return philox4x32(seed_, 0, i >> 2)[i & 3];
}

float Rng::normal() {
  // Box-Muller on two uniforms; u1 in (0,1] so log is finite.
  float u1 = 1.0f - uniform(), u2 = uniform();
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.283185307179586f * u2);
}

uint64_t Rng::below(uint64_t n) {
  if (n <= 1) return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
  uint64_t r;
  do r = next_u64();
  while (r >= limit);
  return r % n;
}

}  // namespace cvtrain
