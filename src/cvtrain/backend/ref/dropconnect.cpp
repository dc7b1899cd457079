#include "cvtrain/backend/ref/dropconnect.h"

#include "cvtrain/base/philox.h"

namespace cvtrain::ref {

template <class T>
void dropconnect_forward(const T* w, T* w_masked, T* mask, float p, uint64_t seed, uint64_t stream, int64_t n) {
  const float scale = 1.0f / (1.0f - p);  // in f32, as the fast kernel, so the f32 masks agree bit for bit
  for (int64_t i = 0; i < n; ++i) {
    mask[i] = philox_uniform(seed, stream, static_cast<uint64_t>(i)) >= p ? T(scale) : T(0);
    w_masked[i] = w[i] * mask[i];
  }
}

template <class T>
void dropconnect_backward(const T* dw_masked, const T* mask, T* dw, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dw[i] = dw_masked[i] * mask[i];
}

#define CVTRAIN_INSTANTIATE(T)                                                                           \
  template void dropconnect_forward<T>(const T*, T*, T*, float, uint64_t, uint64_t, int64_t);            \
  template void dropconnect_backward<T>(const T*, const T*, T*, int64_t);
CVTRAIN_INSTANTIATE(float)
CVTRAIN_INSTANTIATE(double)
#undef CVTRAIN_INSTANTIATE

}  // namespace cvtrain::ref
