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

}  // namespace cvtrain::ops
