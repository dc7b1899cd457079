// Activation ops: each forward, then what its backward captures and computes. The backward of
// sigmoid and tanh needs only the output; the others keep the input.
#include "cvtrain/ops/activation.h"

#include "cvtrain/backend/cpu/activation.h"
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::ops {

namespace {

void check_input(const char* op, const Variable& x) {
  CHECK(x.defined() && x.data().dtype() == DType::f32, op, ": f32 input only, got ",
        x.defined() ? x.data().describe() : std::string("an undefined variable"));
}
Tensor input_of(const char* op, const Variable& x) {
  check_input(op, x);
  return x.data().contiguous();  // x: any shape
}
// Pointwise ops keep a dense CPU input as it is (channels-last stays channels-last: the kernels run
// over memory, output and gradients in the same layout); prelu, whose weight follows the channel,
// takes input_of's NCHW.
Tensor dense_input_of(const char* op, const Variable& x) {
  check_input(op, x);
  const Tensor& t = x.data();
  return !t.is_cuda() && t.is_dense() ? t : t.contiguous();
}

// y = kernel(x) for a pointwise kernel; cuda_kernel (the twin, Runtime first) for a CUDA tensor.
template <class Kernel, class CudaKernel>
Tensor pointwise(const Tensor& xc, Kernel kernel, CudaKernel cuda_kernel) {
  Tensor y = xc.new_empty_like();
  if (xc.is_cuda())
    cuda_kernel(xc.cuda_runtime(), xc.data<float>(), y.data<float>(), y.numel());
  else
    kernel(xc.data<float>(), y.data<float>(), y.numel());
  return y;
}

// dx = kernel(saved, dy) for a pointwise backward kernel.
template <class Kernel, class CudaKernel>
Tensor pointwise_grad(const Tensor& saved, const Tensor& dy, Kernel kernel, CudaKernel cuda_kernel) {
  Tensor dyc = saved.is_strictly_channels_last() ? dy.channels_last() : dy.contiguous();
  Tensor dx = saved.new_empty_like();
  if (saved.is_cuda())
    cuda_kernel(saved.cuda_runtime(), saved.data<float>(), dyc.data<float>(), dx.data<float>(), saved.numel());
  else
    kernel(saved.data<float>(), dyc.data<float>(), dx.data<float>(), saved.numel());
  return dx;
}

}  // namespace

Variable sigmoid(Context& ctx, const Variable& x_in) {
  const Variable x = as_f32(ctx, x_in);
  Tensor y = pointwise(dense_input_of("sigmoid", x), cpu::sigmoid_forward, cuda::sigmoid_forward);
  // backward needs only the output: dx = dy * y * (1 - y)
  return record(ctx, "sigmoid", y, {x},
                [y](const Tensor& dy) -> Grads { return {pointwise_grad(y, dy, cpu::sigmoid_backward, cuda::sigmoid_backward)}; });
}

Variable tanh(Context& ctx, const Variable& x_in) {
  const Variable x = as_f32(ctx, x_in);
  Tensor y = pointwise(dense_input_of("tanh", x), cpu::tanh_forward, cuda::tanh_forward);
  // backward needs only the output: dx = dy * (1 - y^2)
  return record(ctx, "tanh", y, {x},
                [y](const Tensor& dy) -> Grads { return {pointwise_grad(y, dy, cpu::tanh_backward, cuda::tanh_backward)}; });
}

Variable leaky_relu(Context& ctx, const Variable& x_in, float slope) {
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = dense_input_of("leaky_relu", x);
  Tensor y = pointwise(
      xc, [slope](const float* a, float* b, int64_t n) { cpu::leaky_relu_forward(a, b, n, slope); },
      [slope](cuda::Runtime& rt, const float* a, float* b, int64_t n) { cuda::leaky_relu_forward(rt, a, b, n, slope); });
  // backward needs the input's sign and the slope: dx = x > 0 ? dy : slope * dy
  return record(ctx, "leaky_relu", y, {x}, [xc, slope](const Tensor& dy) -> Grads {
    return {pointwise_grad(
        xc, dy, [slope](const float* a, const float* g, float* d, int64_t n) { cpu::leaky_relu_backward(a, g, d, n, slope); },
        [slope](cuda::Runtime& rt, const float* a, const float* g, float* d, int64_t n) {
          cuda::leaky_relu_backward(rt, a, g, d, n, slope);
        })};
  });
}

Variable prelu(Context& ctx, const Variable& x_in, const Variable& weight) {
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = input_of("prelu", x);
  Tensor wc = input_of("prelu (weight)", weight);
  CHECK(!xc.is_cuda(), "prelu: not on cuda yet (docs/cuda.md lists the ops that are)");
  const int64_t C = wc.numel();
  CHECK(wc.dim() == 1 && (C == 1 || (xc.dim() >= 2 && xc.size(1) == C)), "prelu: weight ", wc.describe(),
        " must be (1) or (C) with x (N,C,...); x is ", xc.describe());
  // x viewed as (outer, C, inner); a shared slope folds everything into inner
  const int64_t outer = C == 1 ? 1 : xc.size(0), inner = xc.numel() / (outer * C);
  Tensor y = Tensor::empty(xc.shape());
  cpu::prelu_forward(xc.data<float>(), wc.data<float>(), y.data<float>(), outer, C, inner);
  // backward needs the input and the slopes: dx = x > 0 ? dy : w dy, dw = sum_{x <= 0} dy x
  return record(ctx, "prelu", y, {x, weight}, [xc, wc, outer, C, inner](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(xc.shape()), dw = Tensor::empty(wc.shape());
    cpu::prelu_backward(xc.data<float>(), wc.data<float>(), dyc.data<float>(), dx.data<float>(), dw.data<float>(),
                        outer, C, inner);
    return {dx, dw};
  });
}

namespace {
Variable scaled_elu(Context& ctx, const char* op, const Variable& x_in, float alpha, float scale) {
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = dense_input_of(op, x);
  Tensor y = pointwise(
      xc, [alpha, scale](const float* a, float* b, int64_t n) { cpu::elu_forward(a, b, n, alpha, scale); },
      [alpha, scale](cuda::Runtime& rt, const float* a, float* b, int64_t n) {
        cuda::elu_forward(rt, a, b, n, alpha, scale);
      });
  // backward needs the input: dx = dy * scale * (x > 0 ? 1 : alpha exp(x))
  return record(ctx, op, y, {x}, [xc, alpha, scale](const Tensor& dy) -> Grads {
    return {pointwise_grad(
        xc, dy,
        [alpha, scale](const float* a, const float* g, float* d, int64_t n) { cpu::elu_backward(a, g, d, n, alpha, scale); },
        [alpha, scale](cuda::Runtime& rt, const float* a, const float* g, float* d, int64_t n) {
          cuda::elu_backward(rt, a, g, d, n, alpha, scale);
        })};
  });
}
}  // namespace

Variable elu(Context& ctx, const Variable& x, float alpha) { return scaled_elu(ctx, "elu", x, alpha, 1.0f); }

Variable selu(Context& ctx, const Variable& x) {
  return scaled_elu(ctx, "selu", x, static_cast<float>(kSeluAlpha), static_cast<float>(kSeluScale));
}

Variable gelu(Context& ctx, const Variable& x_in, bool approximate_tanh) {
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = dense_input_of("gelu", x);
  Tensor y = pointwise(
      xc, [approximate_tanh](const float* a, float* b, int64_t n) { cpu::gelu_forward(a, b, n, approximate_tanh); },
      [approximate_tanh](cuda::Runtime& rt, const float* a, float* b, int64_t n) {
        cuda::gelu_forward(rt, a, b, n, approximate_tanh);
      });
  // backward needs the input: dx = dy * (Phi(x) + x phi(x)) (or the tanh form's derivative)
  return record(ctx, "gelu", y, {x}, [xc, approximate_tanh](const Tensor& dy) -> Grads {
    return {pointwise_grad(
        xc, dy,
        [approximate_tanh](const float* a, const float* g, float* d, int64_t n) {
          cpu::gelu_backward(a, g, d, n, approximate_tanh);
        },
        [approximate_tanh](cuda::Runtime& rt, const float* a, const float* g, float* d, int64_t n) {
          cuda::gelu_backward(rt, a, g, d, n, approximate_tanh);
        })};
  });
}

Variable silu(Context& ctx, const Variable& x_in) {
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = dense_input_of("silu", x);
  Tensor y = pointwise(xc, cpu::silu_forward, cuda::silu_forward);
  // backward needs the input: dx = dy * s (1 + x (1 - s)), s = sigmoid(x)
  return record(ctx, "silu", y, {x},
                [xc](const Tensor& dy) -> Grads { return {pointwise_grad(xc, dy, cpu::silu_backward, cuda::silu_backward)}; });
}

}  // namespace cvtrain::ops
