#include "cvtrain/backend/ref/batchnorm.h"

#include <cmath>

namespace cvtrain::ref {

template <class T>
void batch_norm_forward_train(const T* x, const T* weight, const T* bias, T* y, T* save_mean, T* save_invstd,
                              T* running_mean, T* running_var, T momentum, T eps, int64_t N, int64_t C, int64_t HW) {
  const int64_t M = N * HW;
  for (int64_t c = 0; c < C; ++c) {
    T mean = 0, var = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) mean += x[(n * C + c) * HW + i];
    mean /= static_cast<T>(M);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        T d = x[(n * C + c) * HW + i] - mean;
        var += d * d;
      }
    var /= static_cast<T>(M);  // biased: what normalization uses
    const T invstd = T(1) / std::sqrt(var + eps);
    const T w = weight ? weight[c] : T(1), b = bias ? bias[c] : T(0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (n * C + c) * HW + i;
        y[j] = (x[j] - mean) * invstd * w + b;
      }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    if (running_mean) running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean;
    if (running_var)
      running_var[c] = (T(1) - momentum) * running_var[c] + momentum * var * static_cast<T>(M) / static_cast<T>(M - 1);
  }
}

template <class T>
void batch_norm_forward_eval(const T* x, const T* weight, const T* bias, const T* running_mean, const T* running_var,
                             T eps, T* y, int64_t N, int64_t C, int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const T invstd = T(1) / std::sqrt(running_var[c] + eps);
      const T w = weight ? weight[c] : T(1), b = bias ? bias[c] : T(0);
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (n * C + c) * HW + i;
        y[j] = (x[j] - running_mean[c]) * invstd * w + b;
      }
    }
}

template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* weight, const T* mean, const T* invstd, bool training,
                         T* dx, T* dweight, T* dbias, int64_t N, int64_t C, int64_t HW) {
  const T M = static_cast<T>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    // xhat = (x - mean) * invstd; dL/dxhat = dy * w.
    T sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (n * C + c) * HW + i;
        sum_dy += dy[j];
        sum_dy_xhat += dy[j] * (x[j] - mean[c]) * invstd[c];
      }
    if (dweight) dweight[c] = sum_dy_xhat;
    if (dbias) dbias[c] = sum_dy;
    if (!dx) continue;
    const T w = weight ? weight[c] : T(1);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (n * C + c) * HW + i;
        const T xhat = (x[j] - mean[c]) * invstd[c];
        // Training: dx = w*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)) (Ioffe & Szegedy 2015, sec. 3).
        dx[j] = training ? w * invstd[c] * (dy[j] - sum_dy / M - xhat * sum_dy_xhat / M) : w * invstd[c] * dy[j];
      }
  }
}

#define CVTRAIN_INSTANTIATE(T)                                                                                \
  template void batch_norm_forward_train<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*, T, T, int64_t,  \
                                            int64_t, int64_t);                                                \
  template void batch_norm_forward_eval<T>(const T*, const T*, const T*, const T*, const T*, T, T*, int64_t,  \
                                           int64_t, int64_t);                                                 \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, bool, T*, T*, T*,    \
                                       int64_t, int64_t, int64_t);
CVTRAIN_INSTANTIATE(float)
CVTRAIN_INSTANTIATE(double)
#undef CVTRAIN_INSTANTIATE

}  // namespace cvtrain::ref
