// Reference DropConnect kernels: one philox_uniform call per weight, plain loops, templated on the
// scalar so tests can take finite differences in double. Tests hold backend/cpu/dropconnect.h to these.
#pragma once
#include <cstdint>

namespace cvtrain::ref {

// w: (n) -> mask: (n) = 1/(1-p) where philox_uniform(seed, stream, i) >= p, else 0; w_masked = w * mask.
template <class T>
void dropconnect_forward(const T* w, T* w_masked, T* mask, float p, uint64_t seed, uint64_t stream, int64_t n);
// dw_masked, mask: (n) -> dw: (n)
template <class T>
void dropconnect_backward(const T* dw_masked, const T* mask, T* dw, int64_t n);

}  // namespace cvtrain::ref
