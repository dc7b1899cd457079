// Batch normalization kernels over (N,C,HW) (HW = 1 for (N,C) input): per-channel statistics,
// normalization, PyTorch's running-statistics update, and the backward through the batch
// statistics. Raw pointers and sizes in, no allocation, no autograd. Reference twins:
// backend/ref/batchnorm.h.
#pragma once
#include <cstdint>

#include "cvtrain/base/batchnorm_sync.h"

namespace cvtrain::cpu {

// Training: x: (N,C,HW); weight, bias: (C) or null (then 1 and 0) -> y: (N,C,HW),
// save_mean, save_invstd: (C) batch mean and 1/sqrt(biased batch variance + eps).
// running_mean, running_var: (C) or null; when given, updated in place as
// r = (1-momentum)*r + momentum*batch, with the unbiased variance (M/(M-1), M = N*HW > 1).
void batch_norm_forward_train(const float* x, const float* weight, const float* bias, float* y, float* save_mean,
                              float* save_invstd, float* running_mean, float* running_var, float momentum, float eps,
                              int64_t N, int64_t C, int64_t HW, BatchNormSync* sync = nullptr);

// Evaluation: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias; shapes as above.
void batch_norm_forward_eval(const float* x, const float* weight, const float* bias, const float* running_mean,
                             const float* running_var, float eps, float* y, int64_t N, int64_t C, int64_t HW);

// x, dy: (N,C,HW); weight: (C) or null; mean, invstd: (C): the batch statistics (training: the
// gradient also flows through them) or the running ones (evaluation: constants).
// -> dx: (N,C,HW), dweight, dbias: (C); each may be null when not wanted.
void batch_norm_backward(const float* x, const float* dy, const float* weight, const float* mean, const float* invstd,
                         bool training, float* dx, float* dweight, float* dbias, int64_t N, int64_t C, int64_t HW,
                         BatchNormSync* sync = nullptr);

// ---- Synchronized batch norm (train.sync_bn): the phases around the seam -------------------------
// With a `sync` (base/batchnorm_sync.h), the training forward and backward above run these phases:
// the statistics are summed over every process before normalizing, and the backward's two
// per-channel sums before dx. dweight and dbias stay this process's own (the gradient all-reduce
// sums them later). Other layouts and fused ops can reuse the layout-free phases (finish, the dx
// coefficients) around their own passes: fill `sums`, sync->allreduce_sums(sums, 2*C+1), finish.
//
// sums: (2C+1) = [sum of x per channel (C), sum of x^2 per channel (C), M = values per channel],
// accumulated shifted by each channel's first value (as above), returned unshifted, in double.
void batch_norm_stats(const float* x, int64_t N, int64_t C, int64_t HW, double* sums);
// sums (over all processes) -> save_mean, save_invstd: (C); running_mean, running_var: (C) or null,
// updated as in batch_norm_forward_train with the total M.
void batch_norm_stats_finish(const double* sums, int64_t C, float momentum, float eps, float* save_mean,
                             float* save_invstd, float* running_mean, float* running_var);
// y = (x - mean) * invstd * weight + bias; x, y: (N,C,HW); weight, bias: (C) or null; mean, invstd: (C)
void batch_norm_normalize(const float* x, const float* weight, const float* bias, const float* mean,
                          const float* invstd, float* y, int64_t N, int64_t C, int64_t HW);
// sums: (2C+1) = [sum of dy (C), sum of dy * (x - mean) (C), M]; x, dy: (N,C,HW); mean: (C)
void batch_norm_backward_sums(const float* x, const float* dy, const float* mean, int64_t N, int64_t C, int64_t HW,
                              double* sums);
// Training dx = k*dy + q*(x - mean) + r for channel c, from backward sums over all processes (whose
// M is the global batch's); weight: the channel's scale (1 without), invstd: its 1/std.
struct BatchNormDxCoef {
  float k, q, r;
};
BatchNormDxCoef batch_norm_dx_coef(const double* sums, int64_t C, int64_t c, float weight, float invstd);
// x, dy, dx: (N,C,HW); weight: (C) or null; mean, invstd: (C); sums: (2C+1) as above
void batch_norm_backward_dx(const float* x, const float* dy, const float* weight, const float* mean,
                            const float* invstd, const double* sums, float* dx, int64_t N, int64_t C, int64_t HW);

}  // namespace cvtrain::cpu
