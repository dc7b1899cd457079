// 2-D convolution kernels on oneDNN: NCHW (or, with Conv2dShape::channels_last, NHWC) activations
// and OIHW weights in the caller's buffers,
// whatever layout and algorithm oneDNN computes with (direct or Winograd on blocked nChw16c for most
// shapes; see conv.cpp for the choice and its measurements). Primitives, reorders and scratch memory are created once per shape and
// cached in the DnnlRuntime. With DnnlRuntime::bf16() on, convolutions with at least 16 input
// channels compute in bf16 (accumulating in f32). Activation buffers (x, y and their gradients) are
// f32 or bf16 as Conv2dShape says (bf16 activations between layers under train.precision: bf16); the
// kernels read and write them directly where their layout and type allow, else through reorders.
// No autograd here; reference twins: backend/ref/conv.h.
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/dnnl_runtime.h"

namespace cvtrain {

// Geometry of a convolution, PyTorch's conventions: symmetric padding, dilation 1 = dense,
// OH = (H + 2*pad_h - dilation_h*(KH-1) - 1) / stride_h + 1 (floor), likewise OW.
struct Conv2dShape {
  int64_t N, C, H, W;
  int64_t OC, KH, KW;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;
  int64_t OH, OW;
  // Activations (x, y and their gradients) in channels-last memory order: element (n,c,h,w) at
  // ((n*H + h)*W + w)*C + c. The logical shape and the weights' OIHW order do not change.
  bool channels_last = false;
  // Element type of the caller's activation buffers: x and dx bf16 (else f32); y and dy bf16 (else
  // f32). Weights, bias and their gradients are always f32.
  bool x_bf16 = false, y_bf16 = false;
};

// Fills OH and OW from the rest; CHECKs positive sizes/strides/dilations, non-negative padding,
// channels divisible by groups, and a non-empty output.
Conv2dShape make_conv2d_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                              int64_t dilation_w, int64_t groups);

}  // namespace cvtrain

namespace cvtrain::cpu {

// Which oneDNN kernel computes: `automatic` is the measured choice per shape and direction (see
// conv.cpp); `plain` runs oneDNN's gemm-based kernels on the caller's NCHW/OIHW buffers, `blocked` its
// direct jit kernels on blocked layouts (nChw16c) with reorders around the call, `winograd` Winograd
// F(4x4,3x3) on blocked layouts where oneDNN has it (else direct blocked). The explicit choices exist
// for benchmarks and for tests that check every path. `nhwc` runs the direct jit kernels on NHWC
// activations (no reorder when the caller's buffers are channels-last).
enum class ConvImpl { automatic, plain, blocked, winograd, nhwc };

// Activation pointers are void: float or bf16 elements, as s.x_bf16 / s.y_bf16 say.
// x: (N,C,H,W), w: (OC,C/groups,KH,KW), b: (OC) or null -> y: (N,OC,OH,OW) (fully written)
void conv2d_forward(DnnlRuntime& rt, const void* x, const float* w, const float* b, void* y, const Conv2dShape& s,
                    ConvImpl impl = ConvImpl::automatic);
// w: (OC,C/groups,KH,KW), dy: (N,OC,OH,OW) -> dx: (N,C,H,W) (fully written)
void conv2d_backward_data(DnnlRuntime& rt, const float* w, const void* dy, void* dx, const Conv2dShape& s,
                          ConvImpl impl = ConvImpl::automatic);
// x: (N,C,H,W), dy: (N,OC,OH,OW) -> dw: (OC,C/groups,KH,KW), db: (OC) or null (fully written)
void conv2d_backward_weights(DnnlRuntime& rt, const void* x, const void* dy, float* dw, float* db,
                             const Conv2dShape& s, ConvImpl impl = ConvImpl::automatic);
// Both backward directions: dx as conv2d_backward_data, dw and db as conv2d_backward_weights (any
// of dx, dw, db may be null: not computed). With both, dy is reordered to the kernels' layout once
// instead of twice (the same results, bitwise).
void conv2d_backward(DnnlRuntime& rt, const void* x, const float* w, const void* dy, void* dx, float* dw,
                     float* db, const Conv2dShape& s, ConvImpl impl = ConvImpl::automatic);
// dy: (N,OC,OH,OW) -> db: (OC), the sum over N, OH, OW (for a trained bias on frozen weights;
// conv2d_backward_weights computes db along with dw otherwise). Plain loop, deterministic.
void conv2d_backward_bias(const void* dy, float* db, const Conv2dShape& s);

// The oneDNN implementation each direction runs for shape `s`, e.g. "jit:avx512_core", and whether
// it computes on the caller's buffers directly (no reorder). Creates and caches the primitives.
struct Conv2dImplInfo {
  const char* forward;
  const char* backward_data;
  const char* backward_weights;
  bool forward_plain, backward_data_plain, backward_weights_plain;
};
Conv2dImplInfo conv2d_impl_info(DnnlRuntime& rt, const Conv2dShape& s, bool bias,
                                ConvImpl impl = ConvImpl::automatic);

}  // namespace cvtrain::cpu
