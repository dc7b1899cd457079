// DropConnect kernels (Wan et al. 2013, "Regularization of Neural Networks using DropConnect"): a
// Bernoulli mask on a weight matrix, element i from counter i of the Philox stream (seed, stream), so
// the mask is the same whatever the thread count. Not the linear product itself (ops/linalg does it).
// Reference twin: backend/ref/dropconnect.h.
#pragma once
#include <cstdint>

namespace cvtrain::cpu {

// w: (n) -> mask: (n) = 1/(1-p) where philox_uniform(seed, stream, i) >= p, else 0; w_masked = w * mask.
void dropconnect_forward(const float* w, float* w_masked, float* mask, float p, uint64_t seed, uint64_t stream,
                         int64_t n);
// dw_masked, mask: (n) -> dw: (n) = dw_masked * mask
void dropconnect_backward(const float* dw_masked, const float* mask, float* dw, int64_t n);

}  // namespace cvtrain::cpu
