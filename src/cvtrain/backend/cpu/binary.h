// Broadcasting binary kernels (add, sub, mul, div) on strided inputs: raw pointers, shapes and
// strides in, no autograd, no allocation beyond a few dimension counters. Fast paths for packed
// same-shape operands and for a scalar operand, else a strided N-d loop; OpenMP when large.
// The plain-loop twins with the same signatures are in backend/ref/binary.h.
#pragma once
#include <cstdint>

#include "cvtrain/base/bf16.h"

namespace cvtrain {

enum class BinaryOp : uint8_t { add, sub, mul, div };

}  // namespace cvtrain

namespace cvtrain::cpu {

// Layout shared by both kernels: the output has `shape` (ndim dims) and is packed (row-major).
// a_strides, b_strides: (ndim) element strides of a and b broadcast to `shape`, 0 along a dimension
// that broadcasting expands (what Tensor::expand gives).

// out[i] = a[i] op b[i];  out: (shape), packed. out may alias a or b only when that operand is packed
// with the output's shape.
void binary_forward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                    const int64_t* b_strides, float* out, const int64_t* shape, int64_t ndim);

// Per-element gradients, not yet summed over broadcast dimensions (sum_forward does that):
//   da_full[i] = dout[i] * d(a op b)/da,  db_full[i] = dout[i] * d(a op b)/db  at element i.
// dout, da_full, db_full: (shape), packed; da_full or db_full may be null (not needed).
void binary_backward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                     const int64_t* b_strides, const float* dout, float* da_full, float* db_full,
                     const int64_t* shape, int64_t ndim);

// out[i] = a[i] + b[i] over n packed bf16 elements, summed in f32 and rounded once (the residual add
// of bf16 activations; its gradient is dout for both operands, no kernel needed). out may alias a or b.
void add_bf16(const bf16* a, const bf16* b, bf16* out, int64_t n);

}  // namespace cvtrain::cpu
