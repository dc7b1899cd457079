// Reference twin of cpu::bn_act_* (backend/cpu/bn_act.h): y = relu(bn(x) + residual) composed from
// the reference batch norm (backend/ref/batchnorm.h), an add and a max, NCHW only (tests transpose
// for channels-last). Templated on the scalar for double-precision checks; allocates; not fast.
#pragma once
#include <cstdint>

namespace cvtrain::ref {

// x, residual (null: none): (N,C,HW) -> y: (N,C,HW); save_mean, save_invstd: (C); running_*: (C) or null
template <class T>
void batch_norm_add_relu_forward_train(const T* x, const T* weight, const T* bias, const T* residual, bool relu, T* y,
                                       T* save_mean, T* save_invstd, T* running_mean, T* running_var, T momentum,
                                       T eps, int64_t N, int64_t C, int64_t HW);

// y: the forward's output (the ReLU mask); mean, invstd: the statistics it used ->
// dx, dresidual: (N,C,HW); dweight, dbias: (C); each may be null
template <class T>
void batch_norm_add_relu_backward(const T* x, const T* y, const T* dy, const T* weight, const T* mean, const T* invstd,
                                  bool relu, bool training, T* dx, T* dresidual, T* dweight, T* dbias, int64_t N,
                                  int64_t C, int64_t HW);

}  // namespace cvtrain::ref
