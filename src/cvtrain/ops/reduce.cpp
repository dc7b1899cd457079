// Reductions: sum and mean over chosen dimensions (all when none are named), max over one dimension.
// Each forward with its backward right below it; kernels in backend/cpu/reduce.
#include "cvtrain/ops/reduce.h"

#include <algorithm>

#include "cvtrain/backend/cpu/reduce.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::ops {

namespace {

int64_t normalize_dim(const char* op, int64_t d, const Tensor& x) {
  const int64_t nd = std::max<int64_t>(x.dim(), 1);  // a 0-d tensor accepts dim 0 / -1, as in PyTorch
  CHECK(d >= -nd && d < nd, op, ": dim ", d, " out of range for ", x.describe());
  return d < 0 ? d + nd : d;
}

// Which dims of x are reduced (all when `dims` is empty) and the output shape.
struct Reduction {
  std::vector<uint8_t> reduce;
  Shape out_shape;
  int64_t count = 1;  // elements summed into each output
};

Reduction plan(const char* op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Reduction r;
  r.reduce.assign(x.dim(), dims.empty() ? 1 : 0);
  for (int64_t d : dims) {
    d = normalize_dim(op, d, x);
    if (x.dim() == 0) continue;
    CHECK(!r.reduce[d], op, ": dim ", d, " named twice for ", x.describe());
    r.reduce[d] = 1;
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (r.reduce[d]) r.count *= x.shape()[d];
    if (!r.reduce[d]) r.out_shape.push_back(x.shape()[d]);
    else if (keepdim) r.out_shape.push_back(1);
  }
  return r;
}

// sum * scale over the planned dims; mean is scale = 1/count.
Variable scaled_sum(Context& ctx, const char* op, const Variable& x_in, const std::vector<int64_t>& dims, bool keepdim,
                    bool average) {
  const Variable x = as_f32(ctx, x_in);
  CHECK(x.data().dtype() == DType::f32, op, ": f32 only, got ", x.data().describe());
  Reduction r = plan(op, x.data(), dims, keepdim);
  CHECK(!x.data().is_cuda(), op, ": not on cuda yet (docs/cuda.md lists the ops that are)");
  const float scale = average ? 1.0f / static_cast<float>(r.count) : 1.0f;
  Tensor xc = x.data().contiguous();
  Tensor y = Tensor::empty(r.out_shape);
  cpu::sum_forward(xc.data<float>(), xc.shape().data(), r.reduce.data(), xc.dim(), scale, y.data<float>());
  // backward needs only the input shape and the plan: dx = scale * dy broadcast over the reduced dims
  return record(ctx, op, y, {x}, [shape = xc.shape(), reduce = r.reduce, scale](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(shape);
    cpu::sum_backward(dyc.data<float>(), shape.data(), reduce.data(), dx.dim(), scale, dx.data<float>());
    return {dx};
  });
}

}  // namespace

Variable sum(Context& ctx, const Variable& x, std::vector<int64_t> dims, bool keepdim) {
  return scaled_sum(ctx, "sum", x, dims, keepdim, false);
}

Variable mean(Context& ctx, const Variable& x, std::vector<int64_t> dims, bool keepdim) {
  return scaled_sum(ctx, "mean", x, dims, keepdim, true);
}

Variable max(Context& ctx, const Variable& x_in, int64_t dim, bool keepdim) {
  const Variable x = as_f32(ctx, x_in);
  CHECK(x.data().dtype() == DType::f32, "max: f32 only, got ", x.data().describe());
  const int64_t d = normalize_dim("max", dim, x.data());
  Tensor xc = x.data().contiguous();
  CHECK(!xc.is_cuda(), "max: not on cuda yet (docs/cuda.md lists the ops that are)");
  const Shape& s = xc.shape();
  const int64_t n = xc.dim() ? s[d] : 1;
  CHECK(n > 0, "max: dim ", dim, " of ", xc.describe(), " is empty");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= s[i];
  for (int64_t i = d + 1; i < xc.dim(); ++i) inner *= s[i];
  Shape out_shape = s;
  if (xc.dim()) {
    if (keepdim) out_shape[d] = 1;
    else out_shape.erase(out_shape.begin() + d);
  }
  Tensor y = Tensor::empty(out_shape), argmax = Tensor::empty(out_shape, DType::i64);
  cpu::max_forward(xc.data<float>(), outer, n, inner, y.data<float>(), argmax.data<int64_t>());
  // backward needs the arg-max and the input shape: dx = dy at the first maximal element, 0 elsewhere
  return record(ctx, "max", y, {x}, [argmax, shape = s, outer, n, inner](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(shape);
    cpu::max_backward(dyc.data<float>(), argmax.data<int64_t>(), outer, n, inner, dx.data<float>());
    return {dx};
  });
}

}  // namespace cvtrain::ops
