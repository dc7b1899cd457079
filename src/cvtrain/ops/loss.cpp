// Softmax, log-softmax and cross-entropy ops over the rows of (N,K) logits, each forward with its
// backward right below it. Cross-entropy returns the mean over the batch as a shape-() variable.
// Kernels in backend/cpu/softmax.h.
#include "cvtrain/ops/loss.h"

#include "cvtrain/backend/cpu/softmax.h"
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::ops {

namespace {
void check_logits(const char* op, const Tensor& x) {
  CHECK(x.dim() == 2 && x.dtype() == DType::f32 && x.size(1) > 0, op, ": expects f32 (N,K) logits with K > 0, got ",
        x.describe());
}
}  // namespace

namespace {
// softmax (log = false) or log-softmax (log = true) over the rows of x: (N,K)
Variable softmax_rows(Context& ctx, const Variable& x_in, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = x.data().contiguous();  // (N,K)
  check_logits(op, xc);
  const int64_t N = xc.size(0), K = xc.size(1);
  if (xc.is_cuda()) {  // backend/cuda/extra.cu, the same backward as below
    Tensor y = xc.new_empty(xc.shape());
    cuda::softmax_forward(xc.cuda_runtime(), xc.data<float>(), y.data<float>(), N, K, log);
    return record(ctx, op, y, {x}, [y, N, K, log](const Tensor& dy) -> Grads {
      Tensor dyc = dy.contiguous(), dx = y.new_empty(y.shape());
      cuda::softmax_backward(y.cuda_runtime(), y.data<float>(), dyc.data<float>(), dx.data<float>(), N, K, log);
      return {dx};
    });
  }
  Tensor y = Tensor::empty(xc.shape());
  (log ? cpu::log_softmax_forward : cpu::softmax_forward)(xc.data<float>(), y.data<float>(), N, K);
  // backward needs only the output: softmax dx = y * (dy - sum(dy * y)); log-softmax dx = dy - exp(y) * sum(dy)
  return record(ctx, op, y, {x}, [y, N, K, log](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(y.shape());
    (log ? cpu::log_softmax_backward : cpu::softmax_backward)(y.data<float>(), dyc.data<float>(), dx.data<float>(), N, K);
    return {dx};
  });
}
}  // namespace

Variable softmax(Context& ctx, const Variable& x) { return softmax_rows(ctx, x, false); }

Variable log_softmax(Context& ctx, const Variable& x) { return softmax_rows(ctx, x, true); }

Variable cross_entropy(Context& ctx, const Variable& logits_in, const Tensor& labels, float label_smoothing) {
  const Variable logits = as_f32(ctx, logits_in);
  Tensor xc = logits.data().contiguous();  // (N,K)
  check_logits("cross_entropy", xc);
  const int64_t N = xc.size(0), K = xc.size(1);
  CHECK(N > 0, "cross_entropy: empty batch ", xc.describe());
  CHECK(labels.dtype() == DType::i64 && labels.dim() == 1 && labels.size(0) == N,
        "cross_entropy: labels must be i64 (", N, ") for logits ", xc.describe(), ", got ", labels.describe());
  CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f, "cross_entropy: label_smoothing = ", label_smoothing,
        " must be in [0, 1]");
  if (xc.is_cuda()) {
    // NOTE: labels are not range-checked on the GPU (that would wait for it); the loaders check them.
    Tensor lcu = labels.contiguous().to_device_of(xc);  // (N)
    cuda::Runtime& crt = xc.cuda_runtime();
    Tensor prob = xc.new_empty({N, K}), row_loss = xc.new_empty({N}), loss = xc.new_empty({});
    cuda::cross_entropy_forward(crt, xc.data<float>(), lcu.data<int64_t>(), label_smoothing, prob.data<float>(),
                                row_loss.data<float>(), loss.data<float>(), N, K);
    // backward as below, with dloss read on the GPU
    return record(ctx, "cross_entropy", loss, {logits},
                  [prob, lcu, label_smoothing, N, K](const Tensor& dloss) -> Grads {
                    Tensor dx = prob.new_empty({N, K});
                    Tensor dl = dloss.to_device_of(prob);
                    cuda::cross_entropy_backward(prob.cuda_runtime(), prob.data<float>(), lcu.data<int64_t>(),
                                                 label_smoothing, dl.data<float>(), dx.data<float>(), N, K);
                    return {dx};
                  });
  }
  Tensor lc = labels.contiguous();  // (N)
  const int64_t* lab = lc.data<int64_t>();
  for (int64_t n = 0; n < N; ++n)
    CHECK(lab[n] >= 0 && lab[n] < K, "cross_entropy: label ", lab[n], " at row ", n, " outside [0, ", K, ")");
  Tensor prob = Tensor::empty({N, K}), row_loss = Tensor::empty({N});
  const float loss = cpu::cross_entropy_forward(xc.data<float>(), lab, label_smoothing, prob.data<float>(),
                                                row_loss.data<float>(), N, K);
  // backward needs the softmax and the labels: dlogits = (softmax - q) * dloss / N
  return record(ctx, "cross_entropy", Tensor::full({}, loss), {logits},
                [prob, lc, label_smoothing, N, K](const Tensor& dloss) -> Grads {
                  Tensor dx = Tensor::empty({N, K});
                  cpu::cross_entropy_backward(prob.data<float>(), lc.data<int64_t>(), label_smoothing, dloss.item(),
                                              dx.data<float>(), N, K);
                  return {dx};
                });
}

namespace {
// (N,K) probabilities moved toward the uniform distribution: t (1 - s) + s / K, a new CPU tensor.
Tensor smoothed(const Tensor& targets, float s) {
  CHECK(!targets.is_cuda(), "cross_entropy_soft: label smoothing takes the targets on the CPU, got ", targets.describe());
  Tensor out = targets.clone();
  const int64_t K = out.size(1);
  float* t = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) t[i] = t[i] * (1.0f - s) + s / static_cast<float>(K);
  return out;
}
}  // namespace

Variable cross_entropy_soft(Context& ctx, const Variable& logits_in, const Tensor& targets, float label_smoothing) {
  const Variable logits = as_f32(ctx, logits_in);
  Tensor xc = logits.data().contiguous();  // (N,K)
  check_logits("cross_entropy_soft", xc);
  const int64_t N = xc.size(0), K = xc.size(1);
  CHECK(N > 0, "cross_entropy_soft: empty batch ", xc.describe());
  CHECK(targets.dtype() == DType::f32 && targets.shape() == xc.shape(), "cross_entropy_soft: targets must be f32 ",
        xc.describe(), " like the logits, got ", targets.describe());
  CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f, "cross_entropy_soft: label_smoothing = ", label_smoothing,
        " must be in [0, 1]");
  Tensor tc = label_smoothing > 0.0f ? smoothed(targets, label_smoothing) : targets.contiguous();  // (N,K)
  if (xc.is_cuda()) {  // backend/cuda/extra.cu: the loss stays on the device, dloss is read there
    tc = tc.to_device_of(xc);
    Tensor prob = xc.new_empty({N, K}), row_loss = xc.new_empty({N}), loss = xc.new_empty({});
    cuda::cross_entropy_soft_forward(xc.cuda_runtime(), xc.data<float>(), tc.data<float>(), prob.data<float>(),
                                     row_loss.data<float>(), loss.data<float>(), N, K);
    return record(ctx, "cross_entropy_soft", loss, {logits}, [prob, tc, N, K](const Tensor& dloss) -> Grads {
      Tensor dx = prob.new_empty({N, K}), dl = dloss.to_device_of(prob);
      cuda::cross_entropy_soft_backward(prob.cuda_runtime(), prob.data<float>(), tc.data<float>(), dl.data<float>(),
                                        dx.data<float>(), N, K);
      return {dx};
    });
  }
  Tensor prob = Tensor::empty({N, K}), row_loss = Tensor::empty({N});
  const float loss = cpu::cross_entropy_soft_forward(xc.data<float>(), tc.data<float>(), prob.data<float>(),
                                                     row_loss.data<float>(), N, K);
  // backward needs the softmax and the targets: dlogits = (softmax * sum(t) - t) * dloss / N
  return record(ctx, "cross_entropy_soft", Tensor::full({}, loss), {logits},
                [prob, tc, N, K](const Tensor& dloss) -> Grads {
                  Tensor dx = Tensor::empty({N, K});
                  cpu::cross_entropy_soft_backward(prob.data<float>(), tc.data<float>(), dloss.item(),
                                                   dx.data<float>(), N, K);
                  return {dx};
                });
}

}  // namespace cvtrain::ops
