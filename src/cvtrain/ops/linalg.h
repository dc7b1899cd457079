// Matrix products: matmul of 2-D operands and linear (x W^T + b, PyTorch's weight layout [out,in]).
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

Variable matmul(Context& ctx, const Variable& a, const Variable& b);  // a: (M,K), b: (K,N) -> (M,N)
// x: (N,IN), weight: (OUT,IN), bias: (OUT) or undefined -> (N,OUT)
Variable linear(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias);

}  // namespace cvtrain::ops
