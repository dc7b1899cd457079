// Elementwise ops: each forward with its backward right below it. Broadcasting follows PyTorch.
#include "cvtrain/ops/elementwise.h"

#include "cvtrain/backend/cpu/activation.h"

namespace cvtrain::ops {

Variable relu(Context& ctx, const Variable& x) {
  Tensor xc = x.data().contiguous();  // x: any shape
  Tensor y = Tensor::empty(xc.shape());
  cpu::relu_forward(xc.data<float>(), y.data<float>(), y.numel());
  // backward needs only the output: dx = dy where y > 0
  return record(ctx, "relu", y, {x}, [y](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(y.shape());
    cpu::relu_backward(y.data<float>(), dyc.data<float>(), dx.data<float>(), y.numel());
    return {dx};
  });
}

}  // namespace cvtrain::ops
