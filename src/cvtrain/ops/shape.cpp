// Shape ops. reshape, flatten, permute, slice and contiguous return views of their input's storage
// where the layout allows (Tensor decides); concat copies. Each backward sits under its forward and
// moves the gradient back to the input's layout: a view of dy where possible, a copy otherwise.
#include "cvtrain/ops/shape.h"

#include <algorithm>

namespace cvtrain::ops {

Variable reshape(Context& ctx, const Variable& x, const Shape& shape) {
  Tensor y = x.data().reshape(shape);  // a view when x is packed
  // backward needs only the input shape: dx = dy reshaped back
  return record(ctx, "reshape", y, {x}, [in = x.shape()](const Tensor& dy) -> Grads { return {dy.reshape(in)}; });
}

Variable flatten(Context& ctx, const Variable& x, int64_t start_dim) {
  const int64_t nd = x.data().dim();
  if (start_dim < 0) start_dim += nd;
  CHECK(start_dim >= 0 && start_dim < std::max<int64_t>(nd, 1), "flatten: start_dim ", start_dim, " out of range for ",
        x.data().describe());
  Shape shape(x.shape().begin(), x.shape().begin() + std::min(start_dim, nd));
  int64_t rest = 1;
  for (int64_t d = start_dim; d < nd; ++d) rest *= x.shape()[d];
  shape.push_back(rest);
  return reshape(ctx, x, shape);
}

Variable permute(Context& ctx, const Variable& x, const std::vector<int64_t>& dims) {
  Tensor y = x.data().permute(dims);  // always a view
  // backward needs only the inverse permutation: dx = dy permuted back (a view)
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[dims[i] < 0 ? dims[i] + y.dim() : dims[i]] = static_cast<int64_t>(i);
  return record(ctx, "permute", y, {x}, [inverse](const Tensor& dy) -> Grads { return {dy.permute(inverse)}; });
}

Variable slice(Context& ctx, const Variable& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  Tensor y = x.data().slice(dim, start, end, step);  // always a view
  // backward needs the input shape and the slice: dx = zeros with dy written into the sliced part
  return record(ctx, "slice", y, {x}, [in = x.shape(), dim, start, end, step](const Tensor& dy) -> Grads {
    Tensor dx = Tensor::zeros(in, dy.dtype());
    dx.slice(dim, start, end, step).copy_(dy);
    return {dx};
  });
}

Variable concat(Context& ctx, const std::vector<Variable>& xs, int64_t dim) {
  CHECK(!xs.empty(), "concat: no inputs");
  const Tensor& first = xs[0].data();
  const int64_t nd = first.dim();
  CHECK(nd > 0, "concat: 0-d input ", first.describe());
  if (dim < 0) dim += nd;
  CHECK(dim >= 0 && dim < nd, "concat: dim out of range for ", first.describe());
  Shape shape = first.shape();
  shape[dim] = 0;
  for (const Variable& v : xs) {
    const Tensor& t = v.data();
    bool same = t.dim() == nd && t.dtype() == first.dtype();
    for (int64_t d = 0; same && d < nd; ++d) same = d == dim || t.shape()[d] == first.shape()[d];
    CHECK(same, "concat: ", t.describe(), " does not match ", first.describe(), " outside dim ", dim);
    shape[dim] += t.shape()[dim];
  }
  Tensor y = Tensor::empty(shape, first.dtype());
  std::vector<int64_t> offsets;  // where each input starts along dim
  int64_t off = 0;
  for (const Variable& v : xs) {
    offsets.push_back(off);
    y.slice(dim, off, off + v.shape()[dim]).copy_(v.data());
    off += v.shape()[dim];
  }
  // backward needs the offsets: dx_i = the slice of dy that x_i filled (a view)
  return record(ctx, "concat", y, xs, [dim, offsets, off](const Tensor& dy) -> Grads {
    Grads g;
    for (size_t i = 0; i < offsets.size(); ++i)
      g.push_back(dy.slice(dim, offsets[i], i + 1 < offsets.size() ? offsets[i + 1] : off));
    return g;
  });
}

Variable to_dtype(Context& ctx, const Variable& x, DType dtype) {
  if (x.data().dtype() == dtype) return x;
  Tensor y = x.data().to(dtype);  // dense inputs keep their layout
  // backward: dx = dy converted back to x's type
  return record(ctx, "to_dtype", y, {x}, [from = x.data().dtype()](const Tensor& dy) -> Grads { return {dy.to(from)}; });
}

Variable contiguous(Context& ctx, const Variable& x) {
  Tensor y = x.data().contiguous();  // x itself when already packed
  // backward needs nothing: dx = dy
  return record(ctx, "contiguous", y, {x}, [](const Tensor& dy) -> Grads { return {dy}; });
}

}  // namespace cvtrain::ops
