// Elementwise ops with NumPy/PyTorch broadcasting, and the activations of the foundation (relu).
// Forward and backward of each op live together in elementwise.cpp; kernels in backend/cpu.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

Shape broadcast_shape(const Shape& a, const Shape& b);  // throws on incompatible shapes

// Two bf16 activations of one shape and channels-last layout (a residual add) add in bf16, rounded
// once; every other case, and the ops below, compute in f32 (bf16 operands widened by ops::as_f32).
Variable add(Context& ctx, const Variable& a, const Variable& b);
Variable sub(Context& ctx, const Variable& a, const Variable& b);
Variable mul(Context& ctx, const Variable& a, const Variable& b);
Variable div(Context& ctx, const Variable& a, const Variable& b);
Variable add_scalar(Context& ctx, const Variable& x, float s);
Variable mul_scalar(Context& ctx, const Variable& x, float s);
Variable relu(Context& ctx, const Variable& x);

// Sums `g` over the dimensions that broadcasting expanded, giving a tensor of `shape`.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

}  // namespace cvtrain::ops
