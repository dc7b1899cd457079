// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a pure
// function of (key, counter), so kernels at any layer can draw element i of a stream without state.
// The stateful Rng that hands out streams is tensor/rng.h.
#pragma once
#include <array>
#include <cstdint>

namespace cvtrain {

#if defined(__CUDACC__)
#define CVTRAIN_HOST_DEVICE __host__ __device__
#else
#define CVTRAIN_HOST_DEVICE
#endif

// Four 32-bit outputs for one 128-bit counter (hi, lo) under a 64-bit key, into out[4]. Host and
// device code (backend/cuda's dropout) share this one definition, so their masks match bit for bit.
CVTRAIN_HOST_DEVICE inline void philox4x32_into(uint64_t key, uint64_t counter_hi, uint64_t counter_lo,
                                                uint32_t out[4]) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c0, p1 = static_cast<uint64_t>(kM1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0, n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1, n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kW0, k1 += kW1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

// The same as an array (host code).
inline std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  std::array<uint32_t, 4> r;
  philox4x32_into(key, counter_hi, counter_lo, r.data());
  return r;
}

// The top 24 bits of a Philox output as a float in [0, 1), exact in f32.
CVTRAIN_HOST_DEVICE inline float philox_to_unit(uint32_t r) { return static_cast<float>(r >> 8) * (1.0f / 16777216.0f); }

// Element `i` of the stream (key, stream): block i/4 of the counter, lane i%4.
inline float philox_uniform(uint64_t key, uint64_t stream, uint64_t i) {
  return philox_to_unit(philox4x32(key, stream, i >> 2)[i & 3]);
}

}  // namespace cvtrain
