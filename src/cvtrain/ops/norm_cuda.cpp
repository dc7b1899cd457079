// ops::batch_norm_add_relu on the GPU in training mode: y = [relu](bn(x) [+ residual]) in the fused
// kernels of backend/cuda/bn.cu (statistics, then one pass writing y; the backward in two passes that
// also write the residual's gradient). ops/norm.cpp calls it for CUDA inputs in training mode unless
// CVTRAIN_CUDA_FUSED=0; evaluation, and the switch off, take the composition batch_norm, add, relu.
#include <initializer_list>

#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/ops/norm.h"

namespace cvtrain::ops {

namespace {
const float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
}  // namespace

Variable batch_norm_add_relu_cuda(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                                  Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt,
                                  const Variable& residual, bool relu) {
  const Tensor& xt = x.data();  // (N,C,H,W) or (N,C) on the GPU
  CHECK(xt.is_cuda() && opt.training && (xt.dim() == 2 || xt.dim() == 4) && xt.dtype() == DType::f32,
        "batch_norm_add_relu (cuda): expects an f32 (N,C) or (N,C,H,W) input in training mode, got ", xt.describe());
  CHECK(!ctx.batchnorm_sync, "batch_norm: train.sync_bn runs on the CPU only so far, input ", xt.describe(),
        " (docs/distributed.md)");
  const int64_t N = xt.size(0), C = xt.size(1), HW = xt.dim() == 4 ? xt.size(2) * xt.size(3) : 1;
  CHECK(N * HW > 1, "batch_norm: training needs more than one value per channel, got input ", xt.describe());
  const Tensor w = weight.defined() ? weight.data().contiguous() : Tensor();  // (C) or none: 1
  const Tensor b = bias.defined() ? bias.data().contiguous() : Tensor();      // (C) or none: 0
  for (const Tensor* t : std::initializer_list<const Tensor*>{&w, &b, &running_mean, &running_var})
    if (t->defined())
      CHECK(t->is_cuda() && t->dtype() == DType::f32 && t->dim() == 1 && t->size(0) == C && t->is_contiguous(),
            "batch_norm: weight, bias and running statistics must be f32 (", C, ") on cuda for input ",
            xt.describe(), ", got ", t->describe());
  CHECK(running_mean.defined() == running_var.defined(), "batch_norm: give both running statistics or neither");
  const Tensor xc = xt.contiguous();  // (N,C,HW)
  Tensor rc;
  if (residual.defined()) {
    CHECK(residual.data().shape() == xt.shape() && residual.data().dtype() == DType::f32 && residual.data().is_cuda(),
          "batch_norm_add_relu: residual ", residual.data().describe(), " does not match the input ", xt.describe());
    rc = residual.data().contiguous();
  }
  cuda::Runtime& rt = xc.cuda_runtime();
  Tensor y = xc.new_empty(xc.shape()), mean = xc.new_empty({C}), invstd = xc.new_empty({C});
  cuda::batch_norm_act_forward_train(rt, xc.data<float>(), ptr_or_null(w), ptr_or_null(b), ptr_or_null(rc), relu,
                                     y.data<float>(), mean.data<float>(), invstd.data<float>(),
                                     running_mean.defined() ? running_mean.data<float>() : nullptr,
                                     running_var.defined() ? running_var.data<float>() : nullptr, opt.momentum,
                                     opt.eps, N, C, HW);

  // backward: x, y (the ReLU mask), weight and the batch statistics; the residual's gradient is dy masked
  const bool want_dx = x.requires_grad(), want_dw = weight.requires_grad(), want_db = bias.requires_grad(),
             want_dr = residual.requires_grad();
  const Tensor y_saved = relu ? y : Tensor();
  auto backward = [xc, y_saved, w, mean, invstd, relu, want_dx, want_dw, want_db, want_dr, N, C,
                   HW](const Tensor& dy) -> Grads {
    const Tensor dyc = dy.contiguous();
    Tensor dx = want_dx ? xc.new_empty(xc.shape()) : Tensor(), dr = want_dr ? xc.new_empty(xc.shape()) : Tensor();
    Tensor dw = want_dw ? xc.new_empty({C}) : Tensor(), db = want_db ? xc.new_empty({C}) : Tensor();
    cuda::batch_norm_act_backward_train(xc.cuda_runtime(), xc.data<float>(), ptr_or_null(y_saved), dyc.data<float>(),
                                        ptr_or_null(w), mean.data<float>(), invstd.data<float>(), relu,
                                        want_dx ? dx.data<float>() : nullptr, want_dw ? dw.data<float>() : nullptr,
                                        want_db ? db.data<float>() : nullptr, want_dr ? dr.data<float>() : nullptr, N,
                                        C, HW);
    return {dx, dw, db, dr};
  };
  return record(ctx, relu ? "batch_norm_add_relu" : "batch_norm", y, {x, weight, bias, residual}, backward);
}

}  // namespace cvtrain::ops
