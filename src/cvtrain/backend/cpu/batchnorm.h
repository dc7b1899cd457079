// Batch normalization kernels over (N,C,HW) (HW = 1 for (N,C) input): per-channel statistics,
// normalization, PyTorch's running-statistics update, and the backward through the batch
// statistics. Raw pointers and sizes in, no allocation, no autograd. Reference twins:
// backend/ref/batchnorm.h.
#pragma once
#include <cstdint>

namespace cvtrain::cpu {

// Training: x: (N,C,HW); weight, bias: (C) or null (then 1 and 0) -> y: (N,C,HW),
// save_mean, save_invstd: (C) batch mean and 1/sqrt(biased batch variance + eps).
// running_mean, running_var: (C) or null; when given, updated in place as
// r = (1-momentum)*r + momentum*batch, with the unbiased variance (M/(M-1), M = N*HW > 1).
void batch_norm_forward_train(const float* x, const float* weight, const float* bias, float* y, float* save_mean,
                              float* save_invstd, float* running_mean, float* running_var, float momentum, float eps,
                              int64_t N, int64_t C, int64_t HW);

// Evaluation: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias; shapes as above.
void batch_norm_forward_eval(const float* x, const float* weight, const float* bias, const float* running_mean,
                             const float* running_var, float eps, float* y, int64_t N, int64_t C, int64_t HW);

// x, dy: (N,C,HW); weight: (C) or null; mean, invstd: (C): the batch statistics (training: the
// gradient also flows through them) or the running ones (evaluation: constants).
// -> dx: (N,C,HW), dweight, dbias: (C); each may be null when not wanted.
void batch_norm_backward(const float* x, const float* dy, const float* weight, const float* mean, const float* invstd,
                         bool training, float* dx, float* dweight, float* dbias, int64_t N, int64_t C, int64_t HW);

}  // namespace cvtrain::cpu
