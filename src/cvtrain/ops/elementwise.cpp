// Elementwise ops: each forward with its backward right below it. Broadcasting follows PyTorch:
// shapes align at the right, a size-1 (or missing) dimension stretches; a broadcast operand's
// gradient is summed back over the dimensions it was stretched along (sum_to_shape).
#include "cvtrain/ops/elementwise.h"

#include <algorithm>

#include "cvtrain/backend/cpu/activation.h"
#include "cvtrain/backend/cpu/binary.h"
#include "cvtrain/backend/cpu/reduce.h"
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::ops {

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {  // i counts from the right
    const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1, db = i < b.size() ? b[b.size() - 1 - i] : 1;
    CHECK(da == db || da == 1 || db == 1, "broadcast: shapes ", shape_str(a), " and ", shape_str(b),
          " do not broadcast (dim -", i + 1, ": ", da, " vs ", db, ")");
    out[n - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  // NOTE: returns g itself when no dimension was broadcast; callers that hand it to two inputs copy.
  if (g.shape() == shape) return g;
  CHECK(broadcast_shape(shape, g.shape()) == g.shape(), "sum_to_shape: ", g.describe(), " cannot be summed to ",
        shape_str(shape));
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  std::vector<uint8_t> reduce(g.dim());
  for (int64_t d = 0; d < g.dim(); ++d) reduce[d] = d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1);
  Tensor gc = g.contiguous();
  Tensor out = gc.new_empty(shape);  // the kept dims in order, packed
  if (gc.is_cuda()) {
    cuda::sum_forward(gc.cuda_runtime(), gc.data<float>(), gc.shape().data(), reduce.data(), gc.dim(), 1.0f,
                      out.data<float>());
    return out;
  }
  cpu::sum_forward(gc.data<float>(), gc.shape().data(), reduce.data(), gc.dim(), 1.0f, out.data<float>());
  return out;
}

namespace {

void check_f32(const char* op, const Variable& a, const Variable& b) {
  CHECK(a.data().dtype() == DType::f32 && b.data().dtype() == DType::f32, op, ": f32 operands only, got ",
        a.data().describe(), " and ", b.data().describe());
}

// Channels-last CPU tensors of one shape and the same strides: an elementwise op runs over their
// memory as one flat array and writes its output channels-last too.
bool flat_channels_last(const Tensor& a, const Tensor& b) {
  return !a.is_cuda() && !b.is_cuda() && a.shape() == b.shape() && a.strides() == b.strides() &&
         a.is_strictly_channels_last();
}
const int64_t kUnit = 1;

// y = a op b over the broadcast shape; a and b are read in place through their (expanded) strides.
Tensor binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  if (flat_channels_last(a_in, b_in)) {
    Tensor y = a_in.new_empty_like();
    const int64_t n = y.numel();
    cpu::binary_forward(op, a_in.data<float>(), &kUnit, b_in.data<float>(), &kUnit, y.data<float>(), &n, 1);
    return y;
  }
  // A CPU operand next to a CUDA one (a mask, a constant) is copied to the GPU.
  const Tensor a = a_in.is_cuda() ? a_in : a_in.to_device_of(b_in), b = b_in.to_device_of(a);
  const Shape shape = broadcast_shape(a.shape(), b.shape());
  const Tensor ae = a.expand(shape), be = b.expand(shape);
  Tensor y = a.new_empty(shape);
  if (a.is_cuda()) {
    cuda::binary_forward(a.cuda_runtime(), op, ae.data<float>(), ae.strides().data(), be.data<float>(),
                         be.strides().data(), y.data<float>(), shape.data(), y.dim());
    return y;
  }
  cpu::binary_forward(op, ae.data<float>(), ae.strides().data(), be.data<float>(), be.strides().data(),
                      y.data<float>(), shape.data(), y.dim());
  return y;
}

// The gradients of a and b (undefined where not needed) for y = a op b given dy: per-element
// products, then summed over the dimensions each operand was broadcast along.
Grads binary_grads(BinaryOp op, const Tensor& a_in, const Tensor& b_in, const Tensor& dy, bool need_a, bool need_b) {
  if (flat_channels_last(a_in, b_in) && flat_channels_last(a_in, dy)) {
    Tensor da = need_a ? dy.new_empty_like() : Tensor(), db = need_b ? dy.new_empty_like() : Tensor();
    const int64_t n = dy.numel();
    cpu::binary_backward(op, a_in.data<float>(), &kUnit, b_in.data<float>(), &kUnit, dy.data<float>(),
                         need_a ? da.data<float>() : nullptr, need_b ? db.data<float>() : nullptr, &n, 1);
    return {da, db};
  }
  const Shape& shape = dy.shape();
  const Tensor a = a_in.to_device_of(dy), b = b_in.to_device_of(dy);
  const Tensor ae = a.expand(shape), be = b.expand(shape), dyc = dy.contiguous();
  Tensor da = need_a ? dy.new_empty(shape) : Tensor(), db = need_b ? dy.new_empty(shape) : Tensor();
  if (dy.is_cuda())
    cuda::binary_backward(dy.cuda_runtime(), op, ae.data<float>(), ae.strides().data(), be.data<float>(),
                          be.strides().data(), dyc.data<float>(), need_a ? da.data<float>() : nullptr,
                          need_b ? db.data<float>() : nullptr, shape.data(), dyc.dim());
  else
    cpu::binary_backward(op, ae.data<float>(), ae.strides().data(), be.data<float>(), be.strides().data(),
                         dyc.data<float>(), need_a ? da.data<float>() : nullptr, need_b ? db.data<float>() : nullptr,
                         shape.data(), dyc.dim());
  return {need_a ? sum_to_shape(da, a.shape()) : Tensor(), need_b ? sum_to_shape(db, b.shape()) : Tensor()};
}

// x op s for a scalar s: the scalar-operand fast path of the binary kernel.
Tensor with_scalar(BinaryOp op, const Tensor& x, float s) {
  const Shape zeros(x.dim(), 0);
  if (flat_channels_last(x, x)) {
    Tensor y = x.new_empty_like();
    const int64_t n = y.numel(), zero = 0;
    cpu::binary_forward(op, x.data<float>(), &kUnit, &s, &zero, y.data<float>(), &n, 1);
    return y;
  }
  Tensor y = x.new_empty(x.shape());
  if (x.is_cuda()) {
    const Tensor xc = x.contiguous();
    cuda::scalar_forward(x.cuda_runtime(), op, xc.data<float>(), s, y.data<float>(), y.numel());
    return y;
  }
  cpu::binary_forward(op, x.data<float>(), x.strides().data(), &s, zeros.data(), y.data<float>(), x.shape().data(),
                      x.dim());
  return y;
}

// The residual add of two bf16 activations of one channels-last layout: y in bf16, dy to both.
Variable add_bf16(Context& ctx, const Variable& a, const Variable& b) {
  Tensor y = a.data().new_empty_like();
  cpu::add_bf16(a.data().data<bf16>(), b.data().data<bf16>(), y.data<bf16>(), y.numel());
  return record(ctx, "add", y, {a, b},
                [need_a = a.requires_grad(), need_b = b.requires_grad()](const Tensor& dy) -> Grads {
                  return {need_a ? dy : Tensor(), need_b ? (need_a ? dy.clone() : dy) : Tensor()};
                });
}

}  // namespace

Variable add(Context& ctx, const Variable& a_in, const Variable& b_in) {
  if (a_in.data().dtype() == DType::bf16 && b_in.data().dtype() == DType::bf16 &&
      flat_channels_last(a_in.data(), b_in.data()))
    return add_bf16(ctx, a_in, b_in);
  const Variable a = as_f32(ctx, a_in);
  const Variable b = as_f32(ctx, b_in);
  check_f32("add", a, b);
  Tensor y = binary(BinaryOp::add, a.data(), b.data());
  // backward needs only the input shapes: da = dy, db = dy, each summed to its input's shape
  return record(ctx, "add", y, {a, b},
                [as = a.shape(), bs = b.shape(), need_a = a.requires_grad(), need_b = b.requires_grad()](
                    const Tensor& dy) -> Grads {
                  Tensor da = need_a ? sum_to_shape(dy, as) : Tensor();
                  Tensor db = need_b ? sum_to_shape(dy, bs) : Tensor();
                  if (da.defined() && db.defined() && da.storage() == db.storage()) db = db.clone();
                  return {da, db};
                });
}

Variable sub(Context& ctx, const Variable& a_in, const Variable& b_in) {
  const Variable a = as_f32(ctx, a_in);
  const Variable b = as_f32(ctx, b_in);
  check_f32("sub", a, b);
  Tensor y = binary(BinaryOp::sub, a.data(), b.data());
  // backward needs only the input shapes: da = dy, db = -dy, each summed to its input's shape
  return record(ctx, "sub", y, {a, b},
                [as = a.shape(), bs = b.shape(), need_a = a.requires_grad(), need_b = b.requires_grad()](
                    const Tensor& dy) -> Grads {
                  return {need_a ? sum_to_shape(dy, as) : Tensor(),
                          need_b ? sum_to_shape(with_scalar(BinaryOp::mul, dy, -1.0f), bs) : Tensor()};
                });
}

Variable mul(Context& ctx, const Variable& a_in, const Variable& b_in) {
  const Variable a = as_f32(ctx, a_in);
  const Variable b = as_f32(ctx, b_in);
  check_f32("mul", a, b);
  Tensor y = binary(BinaryOp::mul, a.data(), b.data());
  // backward needs both inputs: da = dy * b, db = dy * a
  return record(ctx, "mul", y, {a, b},
                [need_a = a.requires_grad(), need_b = b.requires_grad(), a = a.data(), b = b.data()](
                    const Tensor& dy) { return binary_grads(BinaryOp::mul, a, b, dy, need_a, need_b); });
}

Variable div(Context& ctx, const Variable& a_in, const Variable& b_in) {
  const Variable a = as_f32(ctx, a_in);
  const Variable b = as_f32(ctx, b_in);
  check_f32("div", a, b);
  Tensor y = binary(BinaryOp::div, a.data(), b.data());
  // backward needs both inputs: da = dy / b, db = -dy * a / b^2
  return record(ctx, "div", y, {a, b},
                [need_a = a.requires_grad(), need_b = b.requires_grad(), a = a.data(), b = b.data()](
                    const Tensor& dy) { return binary_grads(BinaryOp::div, a, b, dy, need_a, need_b); });
}

Variable add_scalar(Context& ctx, const Variable& x_in, float s) {
  const Variable x = as_f32(ctx, x_in);
  CHECK(x.data().dtype() == DType::f32, "add_scalar: f32 only, got ", x.data().describe());
  Tensor y = with_scalar(BinaryOp::add, x.data(), s);
  // backward needs nothing: dx = dy
  return record(ctx, "add_scalar", y, {x}, [](const Tensor& dy) -> Grads { return {dy}; });
}

Variable mul_scalar(Context& ctx, const Variable& x_in, float s) {
  const Variable x = as_f32(ctx, x_in);
  CHECK(x.data().dtype() == DType::f32, "mul_scalar: f32 only, got ", x.data().describe());
  Tensor y = with_scalar(BinaryOp::mul, x.data(), s);
  // backward needs only s: dx = dy * s
  return record(ctx, "mul_scalar", y, {x},
                [s](const Tensor& dy) -> Grads { return {with_scalar(BinaryOp::mul, dy, s)}; });
}

Variable relu(Context& ctx, const Variable& x_in) {
  const Variable x = as_f32(ctx, x_in);
  // x: any shape; channels-last stays so (a flat loop over its memory)
  Tensor xc = !x.data().is_cuda() && x.data().is_dense() ? x.data() : x.data().contiguous();
  Tensor y = xc.new_empty_like();
  if (xc.is_cuda())
    cuda::relu_forward(xc.cuda_runtime(), xc.data<float>(), y.data<float>(), y.numel());
  else
    cpu::relu_forward(xc.data<float>(), y.data<float>(), y.numel());
  // backward needs only the output: dx = dy where y > 0
  return record(ctx, "relu", y, {x}, [y](const Tensor& dy) -> Grads {
    Tensor dyc = y.is_strictly_channels_last() ? dy.channels_last() : dy.contiguous();
    Tensor dx = y.new_empty_like();
    if (y.is_cuda()) {
      cuda::relu_backward(y.cuda_runtime(), y.data<float>(), dyc.data<float>(), dx.data<float>(), y.numel());
      return {dx};
    }
    cpu::relu_backward(y.data<float>(), dyc.data<float>(), dx.data<float>(), y.numel());
    return {dx};
  });
}

}  // namespace cvtrain::ops
