// Pooling ops: max (remembers where each maximum came from), average (count_include_pad=True) and
// global average; each forward with its backward right below it. Kernels in backend/cpu/pool.h.
// bf16 activations: the channels-last max and global-average kernels read (and max writes) bf16;
// the other paths compute in f32 (ops::as_f32).
#include "cvtrain/ops/pool.h"

#include "cvtrain/ops/shape.h"

#include "cvtrain/backend/cpu/pool.h"
#include "cvtrain/backend/cpu/pool_nhwc.h"
#include "cvtrain/backend/cuda/kernels.h"

namespace cvtrain::ops {

namespace {
Pool2dShape pool_shape(const char* op, const Tensor& x, const Pool2dOptions& o) {
  CHECK(x.dim() == 4 && (x.dtype() == DType::f32 || x.dtype() == DType::bf16), op,
        ": expects an f32 or bf16 (N,C,H,W) input, got ", x.describe());
  return make_pool2d_shape(x.size(0), x.size(1), x.size(2), x.size(3), o.kernel_h, o.kernel_w, o.stride_h,
                           o.stride_w, o.pad_h, o.pad_w);
}
}  // namespace

Variable max_pool2d(Context& ctx, const Variable& x_in, const Pool2dOptions& opt) {
  const bool cl = !x_in.data().is_cuda() && x_in.data().is_strictly_channels_last();  // NHWC kernels, NHWC output
  if (cl) {  // f32 or bf16: y, dy and dx have x's type
    const Tensor& xc = x_in.data();  // (N,C,H,W) channels-last
    const Pool2dShape s = pool_shape("max_pool2d", xc, opt);
    const DType dt = xc.dtype();
    Tensor y = Tensor::empty_channels_last({s.N, s.C, s.OH, s.OW}, dt);
    Tensor argmax = Tensor::empty_channels_last(y.shape(), DType::i32);
    with_element_type(dt, [&](auto e) {
      using T = decltype(e);
      cpu::max_pool2d_forward_nhwc(xc.data<T>(), y.data<T>(), argmax.data<int32_t>(), s);
    });
    return record(ctx, "max_pool2d", y, {x_in}, [argmax, s, dt](const Tensor& dy) -> Grads {
      Tensor dyc = dy.channels_last();
      Tensor dx = Tensor::empty_channels_last({s.N, s.C, s.H, s.W}, dt);
      with_element_type(dt, [&](auto e) {
        using T = decltype(e);
        cpu::max_pool2d_backward_nhwc(dyc.data<T>(), argmax.data<int32_t>(), dx.data<T>(), s);
      });
      return {dx};
    });
  }
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = x.data().contiguous();  // (N,C,H,W)
  const Pool2dShape s = pool_shape("max_pool2d", xc, opt);
  Tensor y = xc.new_empty({s.N, s.C, s.OH, s.OW});
  Tensor argmax = xc.new_empty(y.shape(), DType::i32);
  if (xc.is_cuda())
    cuda::max_pool2d_forward(xc.cuda_runtime(), xc.data<float>(), y.data<float>(), argmax.data<int32_t>(), s);
  else
    cpu::max_pool2d_forward(xc.data<float>(), y.data<float>(), argmax.data<int32_t>(), s);
  // backward needs only where each maximum was: dx[argmax] += dy
  return record(ctx, "max_pool2d", y, {x}, [argmax, s](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = argmax.new_empty({s.N, s.C, s.H, s.W});
    if (argmax.is_cuda()) {
      cuda::max_pool2d_backward(argmax.cuda_runtime(), dyc.data<float>(), argmax.data<int32_t>(), dx.data<float>(), s);
      return {dx};
    }
    cpu::max_pool2d_backward(dyc.data<float>(), argmax.data<int32_t>(), dx.data<float>(), s);
    return {dx};
  });
}

Variable avg_pool2d(Context& ctx, const Variable& x_in, const Pool2dOptions& opt) {
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = x.data().contiguous();  // (N,C,H,W)
  const Pool2dShape s = pool_shape("avg_pool2d", xc, opt);
  Tensor y = xc.new_empty({s.N, s.C, s.OH, s.OW});
  if (xc.is_cuda())
    cuda::avg_pool2d_forward(xc.cuda_runtime(), xc.data<float>(), y.data<float>(), s);
  else
    cpu::avg_pool2d_forward(xc.data<float>(), y.data<float>(), s);
  // backward needs only the geometry: each window spreads dy/(KH*KW) over its in-bounds elements
  return record(ctx, "avg_pool2d", y, {x}, [s](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = dyc.new_empty({s.N, s.C, s.H, s.W});
    if (dyc.is_cuda()) {
      cuda::avg_pool2d_backward(dyc.cuda_runtime(), dyc.data<float>(), dx.data<float>(), s);
      return {dx};
    }
    cpu::avg_pool2d_backward(dyc.data<float>(), dx.data<float>(), s);
    return {dx};
  });
}

Variable global_avg_pool2d(Context& ctx, const Variable& x_in) {
  const bool cl = !x_in.data().is_cuda() && x_in.data().is_strictly_channels_last();  // NHWC kernels
  const Variable x = cl ? x_in : as_f32(ctx, x_in);  // channels-last: f32 or bf16 in, f32 out
  Tensor xc = cl ? x.data() : x.data().contiguous();  // (N,C,H,W)
  CHECK(xc.dim() == 4 && (xc.dtype() == DType::f32 || xc.dtype() == DType::bf16),
        "global_avg_pool2d: expects an f32 or bf16 (N,C,H,W) input, got ", xc.describe());
  CHECK(xc.size(2) * xc.size(3) > 0, "global_avg_pool2d: empty planes in ", xc.describe());
  const Shape in_shape = xc.shape();
  const int64_t P = in_shape[0] * in_shape[1], HW = in_shape[2] * in_shape[3];
  if (cl) {
    const int64_t N = in_shape[0], C = in_shape[1];
    Tensor y = Tensor::empty({N, C});
    const DType dt = xc.dtype();
    with_element_type(dt, [&](auto e) {
      cpu::global_avg_pool2d_forward_nhwc(xc.data<decltype(e)>(), y.data<float>(), N, C, HW);
    });
    return record(ctx, "global_avg_pool2d", y, {x}, [in_shape, N, C, HW, dt](const Tensor& dy) -> Grads {
      Tensor dyc = dy.contiguous();  // (N,C)
      Tensor dx = Tensor::empty_channels_last(in_shape, dt);
      with_element_type(dt, [&](auto e) {
        cpu::global_avg_pool2d_backward_nhwc(dyc.data<float>(), dx.data<decltype(e)>(), N, C, HW);
      });
      return {dx};
    });
  }
  Tensor y = xc.new_empty({in_shape[0], in_shape[1]});
  if (xc.is_cuda())
    cuda::global_avg_pool2d_forward(xc.cuda_runtime(), xc.data<float>(), y.data<float>(), P, HW);
  else
    cpu::global_avg_pool2d_forward(xc.data<float>(), y.data<float>(), P, HW);
  // backward needs only the input shape: dx = dy / (H*W) over each plane
  return record(ctx, "global_avg_pool2d", y, {x}, [in_shape, P, HW](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = dyc.new_empty(in_shape);
    if (dyc.is_cuda()) {
      cuda::global_avg_pool2d_backward(dyc.cuda_runtime(), dyc.data<float>(), dx.data<float>(), P, HW);
      return {dx};
    }
    cpu::global_avg_pool2d_backward(dyc.data<float>(), dx.data<float>(), P, HW);
    return {dx};
  });
}

}  // namespace cvtrain::ops
