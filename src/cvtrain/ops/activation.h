// Activation ops beyond relu (which lives in elementwise.h with the foundation): sigmoid, tanh,
// leaky ReLU, PReLU, ELU, SELU, GELU (exact and tanh), SiLU. Each forward with its backward below
// it in activation.cpp; kernels in backend/cpu/activation.h. Inputs of any shape, f32.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

// SELU's constants (Klambauer et al. 2017, eq. 14), as torch.nn.SELU uses them.
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;

Variable sigmoid(Context& ctx, const Variable& x);
Variable tanh(Context& ctx, const Variable& x);
Variable leaky_relu(Context& ctx, const Variable& x, float slope = 0.01f);
// weight: (1) shared, or (C) with x: (N,C,...) one slope per channel (torch.nn.PReLU)
Variable prelu(Context& ctx, const Variable& x, const Variable& weight);
Variable elu(Context& ctx, const Variable& x, float alpha = 1.0f);
Variable selu(Context& ctx, const Variable& x);
Variable gelu(Context& ctx, const Variable& x, bool approximate_tanh = false);
Variable silu(Context& ctx, const Variable& x);

}  // namespace cvtrain::ops
