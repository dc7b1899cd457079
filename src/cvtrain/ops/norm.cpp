// Batch normalization op: forward (training: batch statistics and the running-statistics update;
// evaluation: running statistics) with its backward right below it. Kernels in
// backend/cpu/batchnorm.h; the fused batch_norm_add_relu (also every channels-last CPU input) in
// backend/cpu/bn_act.h.
#include "cvtrain/ops/norm.h"

#include <cmath>

#include "cvtrain/backend/cpu/batchnorm.h"
#include "cvtrain/backend/cpu/bn_act.h"
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/ops/elementwise.h"

namespace cvtrain::ops {

namespace {
void check_channel_vector(const char* what, const Tensor& t, int64_t C, const Tensor& x) {
  CHECK(t.dtype() == DType::f32 && t.dim() == 1 && t.size(0) == C, "batch_norm: ", what, " must be f32 (", C,
        ") for input ", x.describe(), ", got ", t.describe());
}
const float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// What batch_norm and batch_norm_add_relu check alike. xt: (N,C) or (N,C,H,W) f32; w, b: (C) or
// undefined; running statistics: (C), both or neither, required in evaluation. Returns (N, C, H*W).
struct BnSizes {
  int64_t N, C, HW;
};
BnSizes check_batch_norm_args(const char* op, const Tensor& xt, const Tensor& w, const Tensor& b,
                              const Tensor& running_mean, const Tensor& running_var, const BatchNormOptions& opt) {
  CHECK((xt.dim() == 2 || xt.dim() == 4) && (xt.dtype() == DType::f32 || (xt.dtype() == DType::bf16 && !xt.is_cuda())),
        op, ": expects an f32 (or, on the CPU, bf16) (N,C) or (N,C,H,W) input, got ", xt.describe());
  const int64_t N = xt.size(0), C = xt.size(1), HW = xt.dim() == 4 ? xt.size(2) * xt.size(3) : 1;
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
  return {N, C, HW};
}
}  // namespace

Variable batch_norm(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                    Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt) {
  const Tensor& xt = x.data();
  // channels-last or bf16 activations on the CPU: the kernels of the fused op, with no add or ReLU
  if (!xt.is_cuda() && (xt.is_strictly_channels_last() || xt.dtype() == DType::bf16))
    return batch_norm_add_relu(ctx, x, weight, bias, running_mean, running_var, opt, Variable(), false);
  Tensor w = weight.defined() ? weight.data().contiguous() : Tensor();  // (C) or none: 1
  Tensor b = bias.defined() ? bias.data().contiguous() : Tensor();      // (C) or none: 0
  const BnSizes sz = check_batch_norm_args("batch_norm", xt, w, b, running_mean, running_var, opt);
  const int64_t N = sz.N, C = sz.C, HW = sz.HW;  // plain names: lambdas below capture them

  Tensor xc = xt.contiguous();  // (N,C,HW)
  Tensor y = xc.new_empty(xc.shape());
  Tensor mean = xc.new_empty({C}), invstd = xc.new_empty({C});
  const bool on_cuda = xc.is_cuda();
  if (on_cuda) {
    CHECK((!w.defined() || w.is_cuda()) && (!b.defined() || b.is_cuda()) &&
              (!running_mean.defined() || (running_mean.is_cuda() && running_var.is_cuda())),
          "batch_norm: input ", xc.describe(), " on cuda, its parameters or running statistics are not");
    cuda::Runtime& crt = xc.cuda_runtime();
    CHECK(!(opt.training && ctx.batchnorm_sync), "batch_norm: train.sync_bn runs on the CPU only so far, input ",
          xc.describe(), " (docs/distributed.md)");
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
                                  mean.data<float>(), invstd.data<float>(), rm, rv, opt.momentum, opt.eps, N, C, HW,
                                  ctx.batchnorm_sync);  // train.sync_bn: statistics over all ranks
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
  BatchNormSync* sync = training ? ctx.batchnorm_sync : nullptr;  // train.sync_bn: lives for the run
  return record(ctx, "batch_norm", y, {x, weight, bias},
                [xc, w, mean, invstd, training, want_dx, want_dw, want_db, N, C, HW, sync](const Tensor& dy) -> Grads {
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
                                           want_db ? db.data<float>() : nullptr, N, C, HW, sync);
                  return {dx, dw, db};
                });
}

// ---- batch_norm_add_relu: y = relu(bn(x) + residual), fused on the CPU (backend/cpu/bn_act.h) --------

// ops/norm_cuda.cpp: the same in training mode on the GPU (backend/cuda/bn.cu)
Variable batch_norm_add_relu_cuda(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                                  Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt,
                                  const Variable& residual, bool relu);

Variable batch_norm_add_relu(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                             Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt,
                             const Variable& residual, bool relu) {
  const Tensor& xt = x.data();  // (N,C,H,W) or (N,C), NCHW or channels-last
  if (xt.is_cuda()) {
    // training: the fused CUDA kernels (ops/norm_cuda.cpp) unless CVTRAIN_CUDA_FUSED=0; else the composition
    if (opt.training && xt.cuda_runtime().options().fused_bn)
      return batch_norm_add_relu_cuda(ctx, x, weight, bias, running_mean, running_var, opt, residual, relu);
    Variable y = batch_norm(ctx, x, weight, bias, running_mean, running_var, opt);
    if (residual.defined()) y = add(ctx, y, residual);
    return relu ? ops::relu(ctx, y) : y;
  }
  Tensor w = weight.defined() ? weight.data().contiguous() : Tensor();  // (C) or none: 1
  Tensor b = bias.defined() ? bias.data().contiguous() : Tensor();      // (C) or none: 0
  const BnSizes sz = check_batch_norm_args("batch_norm_add_relu", xt, w, b, running_mean, running_var, opt);
  const int64_t N = sz.N, C = sz.C, HW = sz.HW;  // plain names: lambdas below capture them
  const bool cl = xt.is_strictly_channels_last();
  const cpu::BnLayout layout{N, C, HW, cl};
  // x: dense in its layout; the residual and the gradients follow it
  const Tensor xc = cl ? xt : xt.contiguous();
  auto same_layout = [cl](const Tensor& t) { return cl ? t.channels_last() : t.contiguous(); };
  Tensor rc;
  if (residual.defined()) {
    const Tensor& r = residual.data();
    CHECK(r.shape() == xt.shape() && (r.dtype() == DType::f32 || r.dtype() == DType::bf16) && !r.is_cuda(),
          "batch_norm_add_relu: residual ", r.describe(), " does not match the input ", xt.describe());
    rc = same_layout(r.dtype() == xt.dtype() ? r : r.to(xt.dtype()));  // the kernels take one element type
  }
  const DType dt = xt.dtype();  // f32 or bf16: y, the residual and every gradient but dw, db have it
  Tensor y = xc.new_empty_like();
  Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C});
  // the kernels' scratch, in doubles, from the Context's storage cache (no allocation once warm)
  const int64_t scratch_floats = 2 * cpu::bn_act_scratch_doubles(layout);
  Tensor scratch = Tensor::empty({scratch_floats});
  double* sp = reinterpret_cast<double*>(scratch.data<float>());
  BatchNormSync* sync = opt.training ? ctx.batchnorm_sync : nullptr;  // train.sync_bn
  const float *wp = ptr_or_null(w), *bp = ptr_or_null(b);
  if (!opt.training) {
    // the statistics as of this forward, for the backward (the buffers may change before it runs)
    mean.copy_(running_mean);
    const float* rv = running_var.data<float>();
    float* is = invstd.data<float>();
    for (int64_t c = 0; c < C; ++c) is[c] = 1.0f / std::sqrt(rv[c] + opt.eps);
  }
  with_element_type(dt, [&](auto e) {
    using T = decltype(e);
    const T* rp = rc.defined() ? rc.data<T>() : nullptr;
    if (opt.training)
      cpu::bn_act_forward_train(xc.data<T>(), wp, bp, rp, relu, y.data<T>(), mean.data<float>(), invstd.data<float>(),
                                running_mean.defined() ? running_mean.data<float>() : nullptr,
                                running_var.defined() ? running_var.data<float>() : nullptr, opt.momentum, opt.eps,
                                layout, sp, sync);
    else
      cpu::bn_act_forward_eval(xc.data<T>(), wp, bp, rp, relu, mean.data<float>(), invstd.data<float>(), y.data<T>(),
                               layout, sp);
  });

  // backward needs x, y (for the ReLU mask), weight and the statistics used; the residual's
  // gradient is the masked dy itself
  const bool training = opt.training, want_dx = x.requires_grad(), want_dw = weight.requires_grad(),
             want_db = bias.requires_grad(), want_dr = residual.requires_grad();
  Tensor y_saved = relu ? y : Tensor();
  auto backward = [xc, y_saved, w, mean, invstd, relu, training, want_dx, want_dw, want_db, want_dr, layout, sync,
                   scratch_floats, same_layout, layout_type = dt](const Tensor& dy) -> Grads {
    const Tensor dyc = same_layout(dy);
    Tensor dx = want_dx ? xc.new_empty_like() : Tensor();
    Tensor dr = want_dr ? xc.new_empty_like() : Tensor();
    Tensor dw = want_dw ? Tensor::empty({layout.C}) : Tensor();
    Tensor db = want_db ? Tensor::empty({layout.C}) : Tensor();
    Tensor scratch = Tensor::empty({scratch_floats});
    with_element_type(layout_type, [&](auto e) {
      using T = decltype(e);
      auto opt_ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
      cpu::bn_act_backward(xc.data<T>(), opt_ptr(y_saved), dyc.data<T>(), ptr_or_null(w), mean.data<float>(),
                           invstd.data<float>(), relu, training, opt_ptr(dx), opt_ptr(dr),
                           want_dw ? dw.data<float>() : nullptr, want_db ? db.data<float>() : nullptr, layout,
                           reinterpret_cast<double*>(scratch.data<float>()), sync);
    });
    return {dx, dw, db, dr};
  };
  return record(ctx, relu ? "batch_norm_add_relu" : "batch_norm", y, {x, weight, bias, residual}, backward);
}

}  // namespace cvtrain::ops
