// The CUDA twins of the cpu:: kernels: same names, same pointer-and-size signatures (all pointers are
// device memory), with the cuda::Runtime (stream, handles, allocator) as the first argument. Where a
// CPU kernel returns a value to the host (the cross-entropy loss) the twin writes it to device memory
// instead, so a training step never waits for the GPU. No autograd, no allocation beyond workspace.
// Without CVTRAIN_CUDA every function here is an inline stub that throws: the CPU build links, and
// no device tensor can exist to reach them (Runtime::create fails first).
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/binary.h"  // BinaryOp
#include "cvtrain/backend/cpu/conv.h"    // Conv2dShape
#include "cvtrain/backend/cpu/pool.h"    // Pool2dShape
#include "cvtrain/backend/cuda/runtime.h"

namespace cvtrain::cuda {

[[noreturn]] void not_compiled();  // throws InputError: "built without CUDA (configure with -DCVTRAIN_CUDA=ON)"

#if CVTRAIN_CUDA
#define CVTRAIN_CUDA_FN
#define CVTRAIN_CUDA_BODY ;
#else
#define CVTRAIN_CUDA_FN inline
#define CVTRAIN_CUDA_BODY { not_compiled(); }
#endif

// ---- elementwise.cu: broadcasting arithmetic, activations, reductions, copies ----
// Layouts as cpu::binary_forward / binary_backward (ndim <= 8).
CVTRAIN_CUDA_FN void binary_forward(Runtime& rt, BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                                    const int64_t* b_strides, float* out, const int64_t* shape, int64_t ndim)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void binary_backward(Runtime& rt, BinaryOp op, const float* a, const int64_t* a_strides,
                                     const float* b, const int64_t* b_strides, const float* dout, float* da_full,
                                     float* db_full, const int64_t* shape, int64_t ndim) CVTRAIN_CUDA_BODY
// y = x op s for a host scalar s; x, y: (n) packed (the CPU passes s as a stride-0 operand instead).
CVTRAIN_CUDA_FN void scalar_forward(Runtime& rt, BinaryOp op, const float* x, float s, float* y, int64_t n)
    CVTRAIN_CUDA_BODY
// dst += src; dst, src: (n) (gradient accumulation)
CVTRAIN_CUDA_FN void add_inplace(Runtime& rt, float* dst, const float* src, int64_t n) CVTRAIN_CUDA_BODY
// x: (n) <- value
CVTRAIN_CUDA_FN void fill(Runtime& rt, float* x, float value, int64_t n) CVTRAIN_CUDA_BODY
// dst (packed, logical order) <- src read through (shape, strides in elements), elements of elem_size bytes
CVTRAIN_CUDA_FN void strided_copy(Runtime& rt, const void* src, const int64_t* shape, const int64_t* strides,
                                  int64_t ndim, int64_t elem_size, void* dst) CVTRAIN_CUDA_BODY
// As cpu::sum_forward: x (shape) packed; y the kept dims packed = scale * sum over the reduced dims.
CVTRAIN_CUDA_FN void sum_forward(Runtime& rt, const float* x, const int64_t* shape, const uint8_t* reduce,
                                 int64_t ndim, float scale, float* y) CVTRAIN_CUDA_BODY

// Activations: as backend/cpu/activation.h.
CVTRAIN_CUDA_FN void relu_forward(Runtime& rt, const float* x, float* y, int64_t n) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void relu_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t n)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void sigmoid_forward(Runtime& rt, const float* x, float* y, int64_t n) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void sigmoid_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t n)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void tanh_forward(Runtime& rt, const float* x, float* y, int64_t n) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void tanh_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t n)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void leaky_relu_forward(Runtime& rt, const float* x, float* y, int64_t n, float slope)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void leaky_relu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n,
                                         float slope) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void elu_forward(Runtime& rt, const float* x, float* y, int64_t n, float alpha, float scale)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void elu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n, float alpha,
                                  float scale) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void gelu_forward(Runtime& rt, const float* x, float* y, int64_t n, bool approximate_tanh)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void gelu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n,
                                   bool approximate_tanh) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void silu_forward(Runtime& rt, const float* x, float* y, int64_t n) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void silu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n)
    CVTRAIN_CUDA_BODY

// ---- pool_loss.cu: pooling, softmax cross-entropy, SGD ----
// As backend/cpu/pool.h.
CVTRAIN_CUDA_FN void max_pool2d_forward(Runtime& rt, const float* x, float* y, int32_t* argmax, const Pool2dShape& s)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void max_pool2d_backward(Runtime& rt, const float* dy, const int32_t* argmax, float* dx,
                                         const Pool2dShape& s) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void avg_pool2d_forward(Runtime& rt, const float* x, float* y, const Pool2dShape& s) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void avg_pool2d_backward(Runtime& rt, const float* dy, float* dx, const Pool2dShape& s)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void global_avg_pool2d_forward(Runtime& rt, const float* x, float* y, int64_t P, int64_t HW)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void global_avg_pool2d_backward(Runtime& rt, const float* dy, float* dx, int64_t P, int64_t HW)
    CVTRAIN_CUDA_BODY
// As cpu::cross_entropy_forward, but the mean loss goes to loss: (1) on the device.
CVTRAIN_CUDA_FN void cross_entropy_forward(Runtime& rt, const float* logits, const int64_t* labels, float smoothing,
                                           float* prob, float* row_loss, float* loss, int64_t N, int64_t K)
    CVTRAIN_CUDA_BODY
// As cpu::cross_entropy_backward, with dloss: (1) on the device.
CVTRAIN_CUDA_FN void cross_entropy_backward(Runtime& rt, const float* prob, const int64_t* labels, float smoothing,
                                            const float* dloss, float* dlogits, int64_t N, int64_t K)
    CVTRAIN_CUDA_BODY
// torch.optim.SGD's update (optim/sgd.cpp) on theta, grad, buf: (n); buf unused when mu == 0.
CVTRAIN_CUDA_FN void sgd_step(Runtime& rt, float* theta, const float* grad, float* buf, int64_t n, float gamma,
                              float lambda, float lambda1, float mu, float tau, bool nesterov, bool first)
    CVTRAIN_CUDA_BODY
// y: (outer, C, inner) += b[c];  db[c] = sum over outer and inner of dy (bias of linear and conv)
CVTRAIN_CUDA_FN void bias_add(Runtime& rt, float* y, const float* b, int64_t outer, int64_t C, int64_t inner)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void bias_backward(Runtime& rt, const float* dy, float* db, int64_t outer, int64_t C, int64_t inner)
    CVTRAIN_CUDA_BODY

// ---- dnn.cu: cuBLAS and cuDNN ----
// As backend/cpu/gemm.h: row-major C = alpha op(A) op(B) + beta C.
CVTRAIN_CUDA_FN void gemm(Runtime& rt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void linear_forward(Runtime& rt, const float* x, const float* w, const float* b, float* y, int64_t N,
                                    int64_t IN, int64_t OUT) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void linear_backward_data(Runtime& rt, const float* dy, const float* w, float* dx, int64_t N,
                                          int64_t IN, int64_t OUT) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void linear_backward_weights(Runtime& rt, const float* x, const float* dy, float* dw, float* db,
                                             int64_t N, int64_t IN, int64_t OUT) CVTRAIN_CUDA_BODY
// As backend/cpu/conv.h, on cuDNN (algorithms found once per shape, cached); bf16 operands on tensor
// cores under Runtime::bf16() (dnn.cu).
CVTRAIN_CUDA_FN void conv2d_forward(Runtime& rt, const float* x, const float* w, const float* b, float* y,
                                    const Conv2dShape& s) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void conv2d_backward_data(Runtime& rt, const float* w, const float* dy, float* dx,
                                          const Conv2dShape& s) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void conv2d_backward_weights(Runtime& rt, const float* x, const float* dy, float* dw, float* db,
                                             const Conv2dShape& s) CVTRAIN_CUDA_BODY
// Both directions in one call (dy converted to bf16 once under Runtime::bf16()): x is read only
// for dw, w only for dx; dx, dw, db may each be null (not wanted).
CVTRAIN_CUDA_FN void conv2d_backward(Runtime& rt, const float* x, const float* w, const float* dy, float* dx,
                                     float* dw, float* db, const Conv2dShape& s) CVTRAIN_CUDA_BODY
// As backend/cpu/batchnorm.h (training forward and backward on cuDNN, evaluation on our kernels).
CVTRAIN_CUDA_FN void batch_norm_forward_train(Runtime& rt, const float* x, const float* weight, const float* bias,
                                              float* y, float* save_mean, float* save_invstd, float* running_mean,
                                              float* running_var, float momentum, float eps, int64_t N, int64_t C,
                                              int64_t HW) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void batch_norm_forward_eval(Runtime& rt, const float* x, const float* weight, const float* bias,
                                             const float* running_mean, const float* running_var, float eps, float* y,
                                             int64_t N, int64_t C, int64_t HW) CVTRAIN_CUDA_BODY
// Also computes invstd from running_var for the evaluation-mode backward: invstd: (C) out.
CVTRAIN_CUDA_FN void invstd_from_var(Runtime& rt, const float* var, float eps, float* invstd, int64_t C)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void batch_norm_backward(Runtime& rt, const float* x, const float* dy, const float* weight,
                                         const float* mean, const float* invstd, bool training, float* dx,
                                         float* dweight, float* dbias, int64_t N, int64_t C, int64_t HW)
    CVTRAIN_CUDA_BODY

// ---- bn.cu: batch norm in training mode on our kernels, and ops::batch_norm_add_relu fused ----
// y = [relu](bn(x) [+ residual]) with the batch statistics; x, residual (may be null), y: (N,C,HW);
// save_mean, save_invstd: (C) out; running_mean/var (C) updated (may be null). batch_norm_forward_train
// above comes here unless RuntimeOptions::own_batch_norm is off.
CVTRAIN_CUDA_FN void batch_norm_act_forward_train(Runtime& rt, const float* x, const float* weight, const float* bias,
                                                  const float* residual, bool relu, float* y, float* save_mean,
                                                  float* save_invstd, float* running_mean, float* running_var,
                                                  float momentum, float eps, int64_t N, int64_t C, int64_t HW)
    CVTRAIN_CUDA_BODY
// Its backward: y is the forward's output (read for the relu mask, may be null without relu);
// dresidual (N,C,HW) = the gradient after the relu; dx, dweight, dbias, dresidual may be null.
CVTRAIN_CUDA_FN void batch_norm_act_backward_train(Runtime& rt, const float* x, const float* y, const float* dy,
                                                   const float* weight, const float* mean, const float* invstd,
                                                   bool relu, float* dx, float* dweight, float* dbias,
                                                   float* dresidual, int64_t N, int64_t C, int64_t HW)
    CVTRAIN_CUDA_BODY

// ---- extra.cu: dropout, softmax, soft-target cross-entropy, Adam ----
// As cpu::dropout_forward / dropout_backward (the same Philox bits: the same mask as the CPU).
CVTRAIN_CUDA_FN void dropout_forward(Runtime& rt, const float* x, float* y, float* mask, float p, uint64_t seed,
                                     uint64_t stream, int64_t n, float keep_scale) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void dropout_backward(Runtime& rt, const float* dy, const float* mask, float* dx, int64_t n)
    CVTRAIN_CUDA_BODY
// As cpu::softmax_* (log: cpu::log_softmax_*) over the rows of x, y: (N,K).
CVTRAIN_CUDA_FN void softmax_forward(Runtime& rt, const float* x, float* y, int64_t N, int64_t K, bool log)
    CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void softmax_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t N, int64_t K,
                                      bool log) CVTRAIN_CUDA_BODY
// As cpu::cross_entropy_soft_*, with the mean loss (1) and dloss (1) on the device.
CVTRAIN_CUDA_FN void cross_entropy_soft_forward(Runtime& rt, const float* logits, const float* targets, float* prob,
                                                float* row_loss, float* loss, int64_t N, int64_t K) CVTRAIN_CUDA_BODY
CVTRAIN_CUDA_FN void cross_entropy_soft_backward(Runtime& rt, const float* prob, const float* targets,
                                                 const float* dloss, float* dlogits, int64_t N, int64_t K)
    CVTRAIN_CUDA_BODY
// x: (n) <- min(max(x, lo), hi) (train.clip_grad_value)
CVTRAIN_CUDA_FN void clamp_inplace(Runtime& rt, float* x, float lo, float hi, int64_t n) CVTRAIN_CUDA_BODY
// optim/adaptive.cpp's Adam/AdamW update on theta, grad, m, v: (n), scalars as computed there.
CVTRAIN_CUDA_FN void adam_step(Runtime& rt, float* theta, const float* grad, float* m, float* v, int64_t n, float beta1,
                               float beta2, float epsilon, float step_size, float bias_correction2_sqrt, float lambda,
                               float lambda1, float decay, bool decoupled) CVTRAIN_CUDA_BODY

#undef CVTRAIN_CUDA_FN
#undef CVTRAIN_CUDA_BODY

}  // namespace cvtrain::cuda
