// DropConnect op: the weight mask (inverted dropout on the weights, ops/dropout.h) and the masked
// linear layer composed from it and ops::linear.
#include "cvtrain/ops/dropconnect.h"

#include "cvtrain/ops/dropout.h"
#include "cvtrain/ops/linalg.h"

namespace cvtrain::ops {

Variable dropconnect(Context& ctx, const Variable& weight, float p, bool training) {
  // The mask on the weights is inverted dropout applied to the weight tensor: one kernel pair
  // (backend/cpu/dropout.h) serves both, so the statistics tests of either hold for the other.
  return dropout(ctx, weight, p, training, DropoutMode::inverted);
}

Variable dropconnect_linear(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias, float p,
                            bool training) {
  return linear(ctx, x, dropconnect(ctx, weight, p, training), bias);
}

}  // namespace cvtrain::ops
