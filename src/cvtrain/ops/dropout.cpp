// Dropout op: inverted (or original) dropout as a mask multiply, with its backward right below it. The mask is
// drawn from a fresh stream of ctx.rng (counter-based: independent of the thread count).
#include "cvtrain/ops/dropout.h"

#include "cvtrain/backend/cpu/dropout.h"
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/base/error.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::ops {

const std::vector<std::string>& dropout_mode_names() {
  static const std::vector<std::string> names = {"inverted", "original"};
  return names;
}

DropoutMode dropout_mode_from_name(const std::string& name) {
  return static_cast<DropoutMode>(index_of_name(dropout_mode_names(), name, "model.dropout_mode", "mode"));
}

const char* dropout_mode_name(DropoutMode mode) { return dropout_mode_names()[static_cast<size_t>(mode)].c_str(); }

Variable dropout(Context& ctx, const Variable& x_in, float p, bool training, DropoutMode mode) {
  CHECK(p >= 0.0f && p < 1.0f, "dropout: p = ", p, " must be in [0, 1), input ", x_in.data().describe());
  if (p == 0.0f) return x_in;
  if (!training) return mode == DropoutMode::original ? mul_scalar(ctx, x_in, 1.0f - p) : x_in;  // E[m] = 1-p
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = x.data().contiguous();  // x: any shape
  CHECK(xc.dtype() == DType::f32, "dropout: expects f32, got ", xc.describe());
  if (xc.is_cuda()) {  // the same Philox stream, so the same mask as the CPU (backend/cuda/extra.cu)
    Tensor y = xc.new_empty(xc.shape()), mask = xc.new_empty(xc.shape());
    const uint64_t stream = ctx.rng.next_stream();
    const float keep_scale = mode == DropoutMode::original ? 1.0f : 1.0f / (1.0f - p);
    cuda::dropout_forward(xc.cuda_runtime(), xc.data<float>(), y.data<float>(), mask.data<float>(), p, ctx.rng.seed(),
                          stream, xc.numel(), keep_scale);
    return record(ctx, "dropout", y, {x}, [mask](const Tensor& dy) -> Grads {
      Tensor dyc = dy.contiguous(), dx = mask.new_empty(mask.shape());
      cuda::dropout_backward(mask.cuda_runtime(), dyc.data<float>(), mask.data<float>(), dx.data<float>(), mask.numel());
      return {dx};
    });
  }
  Tensor y = Tensor::empty(xc.shape()), mask = Tensor::empty(xc.shape());
  const uint64_t stream = ctx.rng.next_stream();
  const float keep_scale = mode == DropoutMode::original ? 1.0f : 1.0f / (1.0f - p);
  cpu::dropout_forward(xc.data<float>(), y.data<float>(), mask.data<float>(), p, ctx.rng.seed(), stream, xc.numel(),
                       keep_scale);
  // backward needs only the mask (0 or keep_scale): dx = dy * mask
  return record(ctx, "dropout", y, {x}, [mask](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(mask.shape());
    cpu::dropout_backward(dyc.data<float>(), mask.data<float>(), dx.data<float>(), mask.numel());
    return {dx};
  });
}

}  // namespace cvtrain::ops
