// Inverted-dropout kernels: the mask is drawn from the counter-based Philox stream (seed, stream),
// element i from counter i, so it is the same whatever the thread count. Plain loops: one kernel
// here is its own reference (tests check it against philox_uniform element by element).
#pragma once
#include <cstdint>

namespace cvtrain::cpu {

// x: (n) -> mask: (n) = keep_scale where philox_uniform(seed, stream, i) >= p, else 0; y: (n) = x * mask.
// keep_scale < 0: 1/(1-p) (inverted dropout); the original form passes 1.
void dropout_forward(const float* x, float* y, float* mask, float p, uint64_t seed, uint64_t stream, int64_t n,
                     float keep_scale = -1.0f);
// dy, mask: (n) -> dx: (n) = dy * mask
void dropout_backward(const float* dy, const float* mask, float* dx, int64_t n);

}  // namespace cvtrain::cpu
