// conv2d: forward and backward side by side; kernels in backend/cpu/conv.h (oneDNN).
// The backward computes only the gradients that are wanted: no dx for a network's input images.
#include "cvtrain/ops/conv.h"

#include "cvtrain/backend/cpu/conv.h"
#include "cvtrain/backend/cuda/kernels.h"

namespace cvtrain::ops {

Variable conv2d(Context& ctx, const Variable& x, const Variable& weight, const Variable& bias,
                const Conv2dOptions& opt) {
  const Tensor& xt = x.data();       // (N,C,H,W)
  const Tensor& wt = weight.data();  // (OC,C/groups,KH,KW)
  CHECK(xt.dim() == 4 && wt.dim() == 4 && wt.dtype() == DType::f32 &&
            (xt.dtype() == DType::f32 || (xt.dtype() == DType::bf16 && !xt.is_cuda())),
        "conv2d: expects an f32 (or, on the CPU, bf16) input (N,C,H,W) and an f32 weight (OC,C/groups,KH,KW), got ",
        xt.describe(), " and ", wt.describe());
  CHECK(wt.size(1) * opt.groups == xt.size(1), "conv2d: weight ", wt.describe(), " with groups=", opt.groups,
        " wants ", wt.size(1) * opt.groups, " input channels, the input ", xt.describe(), " has ", xt.size(1));
  if (bias.defined())
    CHECK(bias.data().dim() == 1 && bias.data().size(0) == wt.size(0) && bias.data().dtype() == DType::f32,
          "conv2d: bias ", bias.data().describe(), " does not match the ", wt.size(0), " output channels of weight ",
          wt.describe());
  Conv2dShape s = make_conv2d_shape(xt.size(0), xt.size(1), xt.size(2), xt.size(3), wt.size(0), wt.size(2),
                                          wt.size(3), opt.stride_h, opt.stride_w, opt.pad_h, opt.pad_w,
                                          opt.dilation_h, opt.dilation_w, opt.groups);
  // CPU: channels-last activations when the runtime asks for them or the input already is
  const bool on_cuda = xt.is_cuda();
  s.channels_last = !on_cuda && (ctx.dnnl.channels_last() || xt.is_strictly_channels_last());
  // CPU bf16 activations (DnnlRuntime::bf16_activations): the output is bf16 whatever the input
  s.x_bf16 = xt.dtype() == DType::bf16;
  s.y_bf16 = !on_cuda && ctx.dnnl.bf16_activations();
  const DType ydt = s.y_bf16 ? DType::bf16 : DType::f32;
  Tensor xc = s.channels_last ? xt.channels_last() : xt.contiguous(), wc = wt.contiguous();
  Tensor bc = bias.defined() ? bias.data().contiguous() : Tensor();
  Tensor y = s.channels_last ? Tensor::empty_channels_last({s.N, s.OC, s.OH, s.OW}, ydt)
                             : xc.new_empty({s.N, s.OC, s.OH, s.OW}, ydt);
  CHECK(wc.device() == xc.device(), "conv2d: input ", xc.describe(), " and weight ", wc.describe(), " on different devices");
  if (on_cuda)
    cuda::conv2d_forward(xc.cuda_runtime(), xc.data<float>(), wc.data<float>(), bc.defined() ? bc.data<float>() : nullptr,
                         y.data<float>(), s);
  else
    cpu::conv2d_forward(ctx.dnnl, xc.raw_data(), wc.data<float>(), bc.defined() ? bc.data<float>() : nullptr,
                        y.raw_data(), s);

  // backward: dx needs the weight, dw needs the input, db only dy; each is captured only when wanted.
  // NOTE: the closure holds the Context's oneDNN runtime; a graph must not outlive its Context.
  const bool want_dx = x.requires_grad(), want_dw = weight.requires_grad();
  const bool has_bias = bias.defined(), want_db = has_bias && bias.requires_grad();
  cpu::DnnlRuntime* rt = &ctx.dnnl;
  Tensor x_saved = want_dw ? xc : Tensor(), w_saved = want_dx ? wc : Tensor();
  auto backward = [=](const Tensor& dy) -> Grads {
    Tensor dyc = s.channels_last ? dy.channels_last() : dy.contiguous();  // (N,OC,OH,OW)
    CHECK(dyc.dtype() == (s.y_bf16 ? DType::bf16 : DType::f32), "conv2d: gradient ", dyc.describe(),
          " for an output of another type");
    Tensor dx, dw, db;
    if (on_cuda) {
      cuda::Runtime& crt = dyc.cuda_runtime();
      if (want_dx) dx = dyc.new_empty({s.N, s.C, s.H, s.W});
      if (want_dw) dw = dyc.new_empty({s.OC, s.C / s.groups, s.KH, s.KW});
      if (want_db) db = dyc.new_empty({s.OC});
      // one call for both directions: under bf16, dy is converted once
      cuda::conv2d_backward(crt, want_dw ? x_saved.data<float>() : nullptr, want_dx ? w_saved.data<float>() : nullptr,
                            dyc.data<float>(), want_dx ? dx.data<float>() : nullptr,
                            want_dw ? dw.data<float>() : nullptr, want_db ? db.data<float>() : nullptr, s);
      if (has_bias) return {dx, dw, db};
      return {dx, dw};
    }
    // one call for both directions: dy is reordered once (backend/cpu/conv.h); with frozen weights
    // and a trained bias, db is a plain sum
    const DType xdt = s.x_bf16 ? DType::bf16 : DType::f32;  // dx has x's type
    if (want_dx)
      dx = s.channels_last ? Tensor::empty_channels_last({s.N, s.C, s.H, s.W}, xdt) : Tensor::empty({s.N, s.C, s.H, s.W}, xdt);
    if (want_dw) dw = Tensor::empty({s.OC, s.C / s.groups, s.KH, s.KW});
    if (want_db) db = Tensor::empty({s.OC});
    cpu::conv2d_backward(*rt, want_dw ? x_saved.raw_data() : nullptr, want_dx ? w_saved.data<float>() : nullptr,
                         dyc.raw_data(), want_dx ? dx.raw_data() : nullptr,
                         want_dw ? dw.data<float>() : nullptr, want_db ? db.data<float>() : nullptr, s);
    if (has_bias) return {dx, dw, db};
    return {dx, dw};
  };
  if (has_bias) return record(ctx, "conv2d", y, {x, weight, bias}, backward);
  return record(ctx, "conv2d", y, {x, weight}, backward);
}

}  // namespace cvtrain::ops
