#include "cvtrain/backend/ref/bn_act.h"

#include <algorithm>
#include <vector>

#include "cvtrain/backend/ref/batchnorm.h"

namespace cvtrain::ref {

template <class T>
void batch_norm_add_relu_forward_train(const T* x, const T* weight, const T* bias, const T* residual, bool relu, T* y,
                                       T* save_mean, T* save_invstd, T* running_mean, T* running_var, T momentum,
                                       T eps, int64_t N, int64_t C, int64_t HW) {
  batch_norm_forward_train(x, weight, bias, y, save_mean, save_invstd, running_mean, running_var, momentum, eps, N, C,
                           HW);
  for (int64_t j = 0; j < N * C * HW; ++j) {
    if (residual) y[j] += residual[j];
    if (relu) y[j] = std::max(y[j], T(0));
  }
}

template <class T>
void batch_norm_add_relu_backward(const T* x, const T* y, const T* dy, const T* weight, const T* mean, const T* invstd,
                                  bool relu, bool training, T* dx, T* dresidual, T* dweight, T* dbias, int64_t N,
                                  int64_t C, int64_t HW) {
  std::vector<T> dz(dy, dy + N * C * HW);  // the gradient at the sum, through the ReLU: dy where y > 0
  if (relu)
    for (size_t j = 0; j < dz.size(); ++j)
      if (!(y[j] > T(0))) dz[j] = T(0);
  if (dresidual) std::copy(dz.begin(), dz.end(), dresidual);
  batch_norm_backward(x, dz.data(), weight, mean, invstd, training, dx, dweight, dbias, N, C, HW);
}

#define CVTRAIN_INSTANTIATE(T)                                                                                       \
  template void batch_norm_add_relu_forward_train<T>(const T*, const T*, const T*, const T*, bool, T*, T*, T*, T*, \
                                                     T*, T, T, int64_t, int64_t, int64_t);                          \
  template void batch_norm_add_relu_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, bool,   \
                                                bool, T*, T*, T*, T*, int64_t, int64_t, int64_t);
CVTRAIN_INSTANTIATE(float)
CVTRAIN_INSTANTIATE(double)
#undef CVTRAIN_INSTANTIATE

}  // namespace cvtrain::ref
