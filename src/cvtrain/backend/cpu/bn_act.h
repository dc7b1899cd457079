// Batch normalization with the residual add and ReLU fused in: y = relu(bn(x) + residual), each part
// optional, in either memory layout of a 4-D activation: NCHW, seen as (N, C, HW) planes, or
// channels-last (NHWC), seen as (M = N*HW, C) rows. One pass for the statistics and one to write y;
// the backward one pass for its per-channel sums (the ReLU mask taken from y) and one to write dx.
// Activations (x, residual, y, dy, dx, dresidual) are T = float or bf16 storage, one T per call, computed
// in float: a bf16 call gives bitwise the float call's sums, statistics, dweight and dbias on the widened
// values, and its y, dx rounded to nearest even. Weights and statistics stay float.
// Raw pointers, no allocation (the caller hands in the scratch), no autograd. Statistics go through
// the seam of synchronized batch norm (batchnorm.h: sums, sync->allreduce_sums, finish), so
// train.sync_bn works here too. Reference twin: ref::batch_norm_add_relu_* (backend/ref/bn_act.h).
#pragma once
#include <cstdint>
#include <type_traits>

#include "cvtrain/base/batchnorm_sync.h"
#include "cvtrain/base/bf16.h"

namespace cvtrain::cpu {

// N images of C channels and HW pixels; channels_last: memory runs (N,HW,C), else (N,C,HW).
struct BnLayout {
  int64_t N, C, HW;
  bool channels_last;
};

// Scratch each call needs, in doubles (2C+1 sums, plus per-chunk partial sums and per-channel
// coefficients for channels-last); the caller provides it (from the Context's storage cache).
int64_t bn_act_scratch_doubles(const BnLayout& l);

// T is deduced from x alone (the other activation pointers may be a plain nullptr); instantiated for
// float and bf16 in bn_act.cpp.
template <class T>
using Same = std::type_identity_t<T>;

// Training: x, residual (null: none): l -> y: l; save_mean, save_invstd: (C) batch statistics;
// running_mean, running_var: (C) or null, updated as cpu::batch_norm_forward_train; weight, bias: (C)
// or null (1 and 0). sync: null, or the all-reduce of train.sync_bn.
template <class T>
void bn_act_forward_train(const T* x, const float* weight, const float* bias, const Same<T>* residual, bool relu,
                          Same<T>* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                          float momentum, float eps, const BnLayout& l, double* scratch, BatchNormSync* sync);

// Evaluation (or any fixed statistics): y = relu((x - mean) * invstd * weight + bias + residual)
template <class T>
void bn_act_forward_eval(const T* x, const float* weight, const float* bias, const Same<T>* residual, bool relu,
                         const float* mean, const float* invstd, Same<T>* y, const BnLayout& l, double* scratch);

// x, dy: l; y: the forward's output (read for the ReLU mask, y > 0; null when !relu). NOTE: bf16 y is
// the rounded output, so a positive float below 2^-134 that rounded to +0 counts as cut by the ReLU,
// consistent with the stored output being 0. mean, invstd: (C)
// the statistics the forward used (training: batch ones, through which the gradient also flows).
// -> dx, dresidual: l; dweight, dbias: (C); any may be null (not wanted). dweight and dbias are this
// process's own under sync (the gradient all-reduce sums them), dx uses the global sums.
template <class T>
void bn_act_backward(const T* x, const Same<T>* y, const Same<T>* dy, const float* weight, const float* mean,
                     const float* invstd, bool relu, bool training, Same<T>* dx, Same<T>* dresidual, float* dweight,
                     float* dbias, const BnLayout& l, double* scratch, BatchNormSync* sync);

}  // namespace cvtrain::cpu
