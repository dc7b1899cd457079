// DropConnect op: the weight mask multiply with its backward right below it, and the masked linear
// layer composed from it and ops::linear. Kernels in backend/cpu/dropconnect.h.
#include "cvtrain/ops/dropconnect.h"

#include "cvtrain/backend/cpu/dropconnect.h"
#include "cvtrain/base/error.h"
#include "cvtrain/ops/linalg.h"

namespace cvtrain::ops {

Variable dropconnect(Context& ctx, const Variable& weight, float p, bool training) {
  CHECK(p >= 0.0f && p < 1.0f, "dropconnect: p = ", p, " must be in [0, 1), weight ", weight.data().describe());
  if (!training || p == 0.0f) return weight;  // inverted scaling: the full weights at evaluation
  Tensor wc = weight.data().contiguous();  // any shape
  CHECK(wc.dtype() == DType::f32, "dropconnect: expects f32 weights, got ", wc.describe());
  Tensor w_masked = Tensor::empty(wc.shape()), mask = Tensor::empty(wc.shape());
  const uint64_t stream = ctx.rng.next_stream();
  cpu::dropconnect_forward(wc.data<float>(), w_masked.data<float>(), mask.data<float>(), p, ctx.rng.seed(), stream,
                           wc.numel());
  // backward needs only the mask (0 or 1/(1-p)): dW = dW_masked * mask
  return record(ctx, "dropconnect", w_masked, {weight}, [mask](const Tensor& dw_masked) -> Grads {
    Tensor dc = dw_masked.contiguous();
    Tensor dw = Tensor::empty(mask.shape());
    cpu::dropconnect_backward(dc.data<float>(), mask.data<float>(), dw.data<float>(), mask.numel());
    return {dw};
  });
}

Variable dropconnect_linear(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias, float p,
                            bool training) {
  return linear(ctx, x, dropconnect(ctx, weight, p, training), bias);
}

}  // namespace cvtrain::ops
