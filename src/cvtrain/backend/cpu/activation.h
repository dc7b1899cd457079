// Activation kernels: raw pointers and sizes in, no allocation, no autograd. The plain loops here
// vectorize as they are, so they are their own reference.
#pragma once
#include <cstdint>

namespace cvtrain::cpu {

// x, y: (n)
void relu_forward(const float* x, float* y, int64_t n);
// y: forward output (n), dy: (n) -> dx: (n)
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);

}  // namespace cvtrain::cpu
