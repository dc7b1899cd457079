// Reference batch normalization kernels: two-pass statistics and the textbook backward
// (Ioffe & Szegedy 2015, section 3), templated on the scalar so tests can check the backward by
// finite differences in double. Same contract as backend/cpu/batchnorm.h; not fast.
#pragma once
#include <cstdint>

namespace cvtrain::ref {

// x: (N,C,HW); weight, bias: (C) or null -> y: (N,C,HW), save_mean, save_invstd: (C);
// running_mean, running_var: (C) or null, updated with momentum and the unbiased variance.
template <class T>
void batch_norm_forward_train(const T* x, const T* weight, const T* bias, T* y, T* save_mean, T* save_invstd,
                              T* running_mean, T* running_var, T momentum, T eps, int64_t N, int64_t C, int64_t HW);

template <class T>
void batch_norm_forward_eval(const T* x, const T* weight, const T* bias, const T* running_mean, const T* running_var,
                             T eps, T* y, int64_t N, int64_t C, int64_t HW);

// x, dy: (N,C,HW); mean, invstd: (C) -> dx: (N,C,HW), dweight, dbias: (C) (each may be null)
template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* weight, const T* mean, const T* invstd, bool training,
                         T* dx, T* dweight, T* dbias, int64_t N, int64_t C, int64_t HW);

}  // namespace cvtrain::ref
