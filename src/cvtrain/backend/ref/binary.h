// Reference twins of backend/cpu/binary.h: the same signatures and semantics as plain strided loops
// over every output element, templated on the scalar type (float and double are instantiated) so
// tests can check the backward by finite differences in double. Not fast; not used by the ops.
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/binary.h"  // BinaryOp

namespace cvtrain::ref {

// See cpu::binary_forward: out (shape) packed; a, b strided and broadcast by their strides.
template <class T>
void binary_forward(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides,
                    T* out, const int64_t* shape, int64_t ndim);

// See cpu::binary_backward: da_full, db_full (shape) packed, per element, either may be null.
template <class T>
void binary_backward(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides,
                     const T* dout, T* da_full, T* db_full, const int64_t* shape, int64_t ndim);

}  // namespace cvtrain::ref
