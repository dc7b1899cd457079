// DropConnect (Wan et al. 2013, "Regularization of Neural Networks using DropConnect", ICML): in
// training, a linear layer uses weights W * M / (1-p), M ~ Bernoulli(1-p) per weight, one mask per
// call (per step, for the whole batch: the paper draws one per example, which costs a mask of
// N*OUT*IN); at evaluation the full weights (the inverted scaling makes E[W*M/(1-p)] = W, the mean
// of the paper's Gaussian moment-matching inference). The bias is not masked.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

// weight: any shape -> the same shape, masked and scaled in training (mask from a fresh stream of
// ctx.rng), the weight itself (no copy) at evaluation or for p = 0.
Variable dropconnect(Context& ctx, const Variable& weight, float p, bool training);

// x: (N,IN), weight: (OUT,IN), bias: (OUT) or undefined -> (N,OUT): linear(x, dropconnect(weight), bias).
Variable dropconnect_linear(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias, float p,
                            bool training);

}  // namespace cvtrain::ops
