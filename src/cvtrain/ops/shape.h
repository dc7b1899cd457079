// Shape ops: views where the layout allows (reshape, permute, slice), copies otherwise (concat).
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

Variable reshape(Context& ctx, const Variable& x, const Shape& shape);
Variable flatten(Context& ctx, const Variable& x, int64_t start_dim = 1);  // (N,...) -> (N,prod)
Variable permute(Context& ctx, const Variable& x, const std::vector<int64_t>& dims);
Variable slice(Context& ctx, const Variable& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Variable concat(Context& ctx, const std::vector<Variable>& xs, int64_t dim);
Variable contiguous(Context& ctx, const Variable& x);
// x converted to `dtype` (x itself when it has it), the gradient converted back. bf16 activations
// (DnnlRuntime::bf16_activations) reach ops without a bf16 kernel through as_f32: they compute in f32.
Variable to_dtype(Context& ctx, const Variable& x, DType dtype);
inline Variable as_f32(Context& ctx, const Variable& x) {
  return x.defined() && x.data().dtype() == DType::bf16 ? to_dtype(ctx, x, DType::f32) : x;
}

}  // namespace cvtrain::ops
