// matmul and linear: forward and backward side by side; kernels in backend/cpu/gemm.h.
// The backward computes only the gradients that are wanted.
#include "cvtrain/ops/linalg.h"

#include "cvtrain/backend/cpu/gemm.h"
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::ops {

Variable matmul(Context& ctx, const Variable& a_in, const Variable& b_in) {
  const Variable a = as_f32(ctx, a_in);
  const Variable b = as_f32(ctx, b_in);
  const Tensor& at = a.data();  // (M,K)
  const Tensor& bt = b.data();  // (K,N)
  CHECK(at.dim() == 2 && bt.dim() == 2 && at.dtype() == DType::f32 && bt.dtype() == DType::f32,
        "matmul: expects two f32 matrices, got ", at.describe(), " and ", bt.describe());
  CHECK(at.size(1) == bt.size(0), "matmul: inner sizes differ: ", at.describe(), " @ ", bt.describe());
  const int64_t M = at.size(0), K = at.size(1), N = bt.size(1);
  Tensor ac = at.contiguous(), bc = bt.contiguous();
  Tensor c = ac.new_empty({M, N});
  const bool on_cuda = ac.is_cuda();
  CHECK(bc.device() == ac.device(), "matmul: operands on different devices: ", ac.describe(), ", ", bc.describe());
  if (on_cuda)
    cuda::gemm(ac.cuda_runtime(), false, false, M, N, K, 1.0f, ac.data<float>(), K, bc.data<float>(), N, 0.0f,
               c.data<float>(), N);
  else
    cpu::gemm(ctx.dnnl, false, false, M, N, K, 1.0f, ac.data<float>(), K, bc.data<float>(), N, 0.0f, c.data<float>(), N);

  // backward: da = dc b^T needs b, db = a^T dc needs a; each is captured only when wanted.
  // NOTE: the closure holds the Context's oneDNN runtime; a graph must not outlive its Context.
  const bool want_da = a.requires_grad(), want_db = b.requires_grad();
  cpu::DnnlRuntime* rt = &ctx.dnnl;
  Tensor a_saved = want_db ? ac : Tensor(), b_saved = want_da ? bc : Tensor();
  return record(ctx, "matmul", c, {a, b}, [=](const Tensor& dc) -> Grads {
    Tensor dcc = dc.contiguous();  // (M,N)
    Tensor da, db;
    if (on_cuda) {
      if (want_da) {
        da = dcc.new_empty({M, K});
        cuda::gemm(dcc.cuda_runtime(), false, true, M, K, N, 1.0f, dcc.data<float>(), N, b_saved.data<float>(), N, 0.0f,
                   da.data<float>(), K);
      }
      if (want_db) {
        db = dcc.new_empty({K, N});
        cuda::gemm(dcc.cuda_runtime(), true, false, K, N, M, 1.0f, a_saved.data<float>(), K, dcc.data<float>(), N, 0.0f,
                   db.data<float>(), N);
      }
      return {da, db};
    }
    if (want_da) {
      da = Tensor::empty({M, K});
      cpu::gemm(*rt, false, true, M, K, N, 1.0f, dcc.data<float>(), N, b_saved.data<float>(), N, 0.0f,
                da.data<float>(), K);
    }
    if (want_db) {
      db = Tensor::empty({K, N});
      cpu::gemm(*rt, true, false, K, N, M, 1.0f, a_saved.data<float>(), K, dcc.data<float>(), N, 0.0f,
                db.data<float>(), N);
    }
    return {da, db};
  });
}

Variable linear(Context& ctx, const Variable& x_in, const Variable& weight, const Variable& bias) {
  const Variable x = as_f32(ctx, x_in);
  const Tensor& xt = x.data();       // (N,IN)
  const Tensor& wt = weight.data();  // (OUT,IN)
  CHECK(xt.dim() == 2 && wt.dim() == 2 && xt.dtype() == DType::f32 && wt.dtype() == DType::f32,
        "linear: expects an f32 input (N,IN) and weight (OUT,IN), got ", xt.describe(), " and ", wt.describe(),
        xt.dim() > 2 ? " (flatten the input first)" : "");
  CHECK(xt.size(1) == wt.size(1), "linear: input ", xt.describe(), " has ", xt.size(1), " features, weight ",
        wt.describe(), " expects ", wt.size(1));
  if (bias.defined())
    CHECK(bias.data().dim() == 1 && bias.data().size(0) == wt.size(0) && bias.data().dtype() == DType::f32,
          "linear: bias ", bias.data().describe(), " does not match the ", wt.size(0), " outputs of weight ",
          wt.describe());
  const int64_t N = xt.size(0), IN = xt.size(1), OUT = wt.size(0);
  Tensor xc = xt.contiguous(), wc = wt.contiguous();
  Tensor bc = bias.defined() ? bias.data().contiguous() : Tensor();
  Tensor y = xc.new_empty({N, OUT});
  const bool on_cuda = xc.is_cuda();
  CHECK(wc.device() == xc.device(), "linear: input ", xc.describe(), " and weight ", wc.describe(), " on different devices");
  if (on_cuda)
    cuda::linear_forward(xc.cuda_runtime(), xc.data<float>(), wc.data<float>(), bc.defined() ? bc.data<float>() : nullptr,
                         y.data<float>(), N, IN, OUT);
  else
    cpu::linear_forward(ctx.dnnl, xc.data<float>(), wc.data<float>(), bc.defined() ? bc.data<float>() : nullptr,
                        y.data<float>(), N, IN, OUT);

  // backward: dx = dy w needs the weight, dw = dy^T x needs the input, db = column sums of dy.
  // NOTE: the closure holds the Context's oneDNN runtime; a graph must not outlive its Context.
  const bool want_dx = x.requires_grad(), want_dw = weight.requires_grad();
  const bool has_bias = bias.defined(), want_db = has_bias && bias.requires_grad();
  cpu::DnnlRuntime* rt = &ctx.dnnl;
  Tensor x_saved = want_dw ? xc : Tensor(), w_saved = want_dx ? wc : Tensor();
  auto backward = [=](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();  // (N,OUT)
    Tensor dx, dw, db;
    if (on_cuda) {
      cuda::Runtime& crt = dyc.cuda_runtime();
      if (want_dx) {
        dx = dyc.new_empty({N, IN});
        cuda::linear_backward_data(crt, dyc.data<float>(), w_saved.data<float>(), dx.data<float>(), N, IN, OUT);
      }
      if (want_db) db = dyc.new_empty({OUT});
      if (want_dw) {
        dw = dyc.new_empty({OUT, IN});
        cuda::linear_backward_weights(crt, x_saved.data<float>(), dyc.data<float>(), dw.data<float>(),
                                      want_db ? db.data<float>() : nullptr, N, IN, OUT);
      } else if (want_db) {
        cuda::bias_backward(crt, dyc.data<float>(), db.data<float>(), N, OUT, 1);
      }
      if (has_bias) return {dx, dw, db};
      return {dx, dw};
    }
    if (want_dx) {
      dx = Tensor::empty({N, IN});
      cpu::linear_backward_data(*rt, dyc.data<float>(), w_saved.data<float>(), dx.data<float>(), N, IN, OUT);
    }
    if (want_db) db = Tensor::empty({OUT});
    if (want_dw) {
      dw = Tensor::empty({OUT, IN});
      cpu::linear_backward_weights(*rt, x_saved.data<float>(), dyc.data<float>(), dw.data<float>(),
                                   want_db ? db.data<float>() : nullptr, N, IN, OUT);
    } else if (want_db) {
      cpu::bias_backward(dyc.data<float>(), db.data<float>(), N, OUT);
    }
    if (has_bias) return {dx, dw, db};
    return {dx, dw};
  };
  if (has_bias) return record(ctx, "linear", y, {x, weight, bias}, backward);
  return record(ctx, "linear", y, {x, weight}, backward);
}

}  // namespace cvtrain::ops
