// Batch normalization op: forward (training: batch statistics and the running-statistics update;
// evaluation: running statistics) with its backward right below it. Kernels in
// backend/cpu/batchnorm.h.
#include "cvtrain/ops/norm.h"

#include <cmath>

#include "cvtrain/backend/cpu/batchnorm.h"
#include "cvtrain/backend/cuda/kernels.h"

namespace cvtrain::ops {

namespace {
void check_channel_vector(const char* what, const Tensor& t, int64_t C, const Tensor& x) {
  CHECK(t.dtype() == DType::f32 && t.dim() == 1 && t.size(0) == C, "batch_norm: ", what, " must be f32 (", C,
        ") for input ", x.describe(), ", got ", t.describe());
}
const float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
}  // namespace

Variable batch_norm(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                    Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt) {
  const Tensor& xt = x.data();
  CHECK((xt.dim() == 2 || xt.dim() == 4) && xt.dtype() == DType::f32,
        "batch_norm: expects an f32 (N,C) or (N,C,H,W) input, got ", xt.describe());
  const int64_t N = xt.size(0), C = xt.size(1), HW = xt.dim() == 4 ? xt.size(2) * xt.size(3) : 1;
  Tensor w = weight.defined() ? weight.data().contiguous() : Tensor();  // (C) or none: 1
  Tensor b = bias.defined() ? bias.data().contiguous() : Tensor();      // (C) or none: 0
  if (w.defined()) check_channel_vector("weight", w, C, xt);
  if (b.defined()) check_channel_vector("bias", b, C, xt);
  CHECK(running_mean.defined() == running_var.defined(), "batch_norm: give both running statistics or neither");
  if (running_mean.defined()) {
    check_channel_vector("running_mean", running_mean, C, xt);
    check_channel_vector("running_var", running_var, C, xt);
    CHECK(running_mean.is_contiguous() && running_var.is_contiguous(),
          "batch_norm: running statistics are updated in place and must be contiguous");
  }
  CHECK(opt.training || running_mean.defined(), "batch_norm: evaluation needs running statistics, input ",
        xt.describe());
  CHECK(!opt.training || N * HW > 1, "batch_norm: training needs more than one value per channel, got input ",
        xt.describe());

  Tensor xc = xt.contiguous();  // (N,C,HW)
  Tensor y = xc.new_empty(xc.shape());
  Tensor mean = xc.new_empty({C}), invstd = xc.new_empty({C});
  const bool on_cuda = xc.is_cuda();
  if (on_cuda) {
    CHECK((!w.defined() || w.is_cuda()) && (!b.defined() || b.is_cuda()) &&
              (!running_mean.defined() || (running_mean.is_cuda() && running_var.is_cuda())),
          "batch_norm: input ", xc.describe(), " on cuda, its parameters or running statistics are not");
    cuda::Runtime& crt = xc.cuda_runtime();
    if (opt.training) {
      cuda::batch_norm_forward_train(crt, xc.data<float>(), ptr_or_null(w), ptr_or_null(b), y.data<float>(),
                                     mean.data<float>(), invstd.data<float>(),
                                     running_mean.defined() ? running_mean.data<float>() : nullptr,
                                     running_var.defined() ? running_var.data<float>() : nullptr, opt.momentum, opt.eps,
                                     N, C, HW);
    } else {
      cuda::batch_norm_forward_eval(crt, xc.data<float>(), ptr_or_null(w), ptr_or_null(b), running_mean.data<float>(),
                                    running_var.data<float>(), opt.eps, y.data<float>(), N, C, HW);
      mean.copy_(running_mean);
      cuda::invstd_from_var(crt, running_var.data<float>(), opt.eps, invstd.data<float>(), C);
    }
  } else if (opt.training) {
    float* rm = running_mean.defined() ? running_mean.data<float>() : nullptr;
    float* rv = running_var.defined() ? running_var.data<float>() : nullptr;
    cpu::batch_norm_forward_train(xc.data<float>(), ptr_or_null(w), ptr_or_null(b), y.data<float>(),
                                  mean.data<float>(), invstd.data<float>(), rm, rv, opt.momentum, opt.eps, N, C, HW);
  } else {
    cpu::batch_norm_forward_eval(xc.data<float>(), ptr_or_null(w), ptr_or_null(b), running_mean.data<float>(),
                                 running_var.data<float>(), opt.eps, y.data<float>(), N, C, HW);
    // The statistics as of this forward, for the backward (the buffers may change before it runs).
    mean.copy_(running_mean);
    const float* rv = running_var.data<float>();
    float* is = invstd.data<float>();
    for (int64_t c = 0; c < C; ++c) is[c] = 1.0f / std::sqrt(rv[c] + opt.eps);
  }

  // backward needs x, weight and the statistics used (batch ones in training: the gradient flows
  // through them too); returns undefined gradients for what does not require one.
  const bool training = opt.training, want_dx = x.requires_grad(), want_dw = weight.requires_grad(),
             want_db = bias.requires_grad();
  return record(ctx, "batch_norm", y, {x, weight, bias},
                [xc, w, mean, invstd, training, want_dx, want_dw, want_db, N, C, HW](const Tensor& dy) -> Grads {
                  Tensor dyc = dy.contiguous();
                  Tensor dx = want_dx ? xc.new_empty(xc.shape()) : Tensor();
                  Tensor dw = want_dw ? xc.new_empty({C}) : Tensor();
                  Tensor db = want_db ? xc.new_empty({C}) : Tensor();
                  if (xc.is_cuda()) {
                    cuda::batch_norm_backward(xc.cuda_runtime(), xc.data<float>(), dyc.data<float>(), ptr_or_null(w),
                                              mean.data<float>(), invstd.data<float>(), training,
                                              want_dx ? dx.data<float>() : nullptr,
                                              want_dw ? dw.data<float>() : nullptr,
                                              want_db ? db.data<float>() : nullptr, N, C, HW);
                    return {dx, dw, db};
                  }
                  cpu::batch_norm_backward(xc.data<float>(), dyc.data<float>(), ptr_or_null(w), mean.data<float>(),
                                           invstd.data<float>(), training, want_dx ? dx.data<float>() : nullptr,
                                           want_dw ? dw.data<float>() : nullptr,
                                           want_db ? db.data<float>() : nullptr, N, C, HW);
                  return {dx, dw, db};
                });
}

}  // namespace cvtrain::ops
