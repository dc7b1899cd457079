// Dropout op: inverted dropout as a mask multiply, with its backward right below it. The mask is
// drawn from a fresh stream of ctx.rng (counter-based: independent of the thread count).
#include "cvtrain/ops/dropout.h"

#include "cvtrain/backend/cpu/dropout.h"

namespace cvtrain::ops {

Variable dropout(Context& ctx, const Variable& x, float p, bool training) {
  CHECK(p >= 0.0f && p < 1.0f, "dropout: p = ", p, " must be in [0, 1), input ", x.data().describe());
  if (!training || p == 0.0f) return x;
  Tensor xc = x.data().contiguous();  // x: any shape
  CHECK(xc.dtype() == DType::f32, "dropout: expects f32, got ", xc.describe());
  Tensor y = Tensor::empty(xc.shape()), mask = Tensor::empty(xc.shape());
  const uint64_t stream = ctx.rng.next_stream();
  cpu::dropout_forward(xc.data<float>(), y.data<float>(), mask.data<float>(), p, ctx.rng.seed(), stream, xc.numel());
  // backward needs only the mask (0 or 1/(1-p)): dx = dy * mask
  return record(ctx, "dropout", y, {x}, [mask](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(mask.shape());
    cpu::dropout_backward(dyc.data<float>(), mask.data<float>(), dx.data<float>(), mask.numel());
    return {dx};
  });
}

}  // namespace cvtrain::ops
