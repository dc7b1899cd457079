// Softmax, log-softmax and cross-entropy over the last dimension of (N,K) logits. Cross-entropy
// takes class labels (i64, with optional label smoothing) or soft targets (N,K) as mixup needs.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

Variable softmax(Context& ctx, const Variable& x);      // x: (N,K)
Variable log_softmax(Context& ctx, const Variable& x);  // x: (N,K)
// logits: (N,K), labels: (N) i64 -> mean loss, shape (). Smoothing as PyTorch's label_smoothing.
Variable cross_entropy(Context& ctx, const Variable& logits, const Tensor& labels, float label_smoothing = 0.0f);
// logits: (N,K), targets: (N,K) probabilities -> mean loss, shape (). Smoothing as PyTorch's
// label_smoothing with probability targets: each row becomes t (1 - s) + s / K (targets on the CPU).
Variable cross_entropy_soft(Context& ctx, const Variable& logits, const Tensor& targets, float label_smoothing = 0.0f);

}  // namespace cvtrain::ops
