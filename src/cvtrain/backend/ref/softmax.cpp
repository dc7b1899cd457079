#include "cvtrain/backend/ref/softmax.h"

#include <cmath>

namespace cvtrain::ref {

namespace {
// log(sum_k exp(x_k)) of one row, stable: max + log(sum exp(x - max)).
template <class T>
T log_sum_exp(const T* x, int64_t K) {
  T m = x[0];
  for (int64_t k = 1; k < K; ++k) m = x[k] > m ? x[k] : m;
  T s = 0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(x[k] - m);
  return m + std::log(s);
}
}  // namespace

template <class T>
void softmax_forward(const T* x, T* y, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    const T lse = log_sum_exp(x + n * K, K);
    for (int64_t k = 0; k < K; ++k) y[n * K + k] = std::exp(x[n * K + k] - lse);
  }
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    T dot = 0;
    for (int64_t k = 0; k < K; ++k) dot += dy[n * K + k] * y[n * K + k];
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] = y[n * K + k] * (dy[n * K + k] - dot);
  }
}

template <class T>
void log_softmax_forward(const T* x, T* y, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    const T lse = log_sum_exp(x + n * K, K);
    for (int64_t k = 0; k < K; ++k) y[n * K + k] = x[n * K + k] - lse;
  }
}

template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    T sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += dy[n * K + k];
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] = dy[n * K + k] - std::exp(y[n * K + k]) * sum;
  }
}

template <class T>
T cross_entropy_forward(const T* logits, const int64_t* labels, T smoothing, T* prob, T* row_loss, int64_t N,
                        int64_t K) {
  T total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* x = logits + n * K;
    const T lse = log_sum_exp(x, K);
    T loss = 0;
    for (int64_t k = 0; k < K; ++k) {
      const T q = (k == labels[n] ? T(1) - smoothing : T(0)) + smoothing / static_cast<T>(K);
      loss -= q * (x[k] - lse);
      prob[n * K + k] = std::exp(x[k] - lse);
    }
    row_loss[n] = loss;
    total += loss;
  }
  return total / static_cast<T>(N);
}

template <class T>
void cross_entropy_backward(const T* prob, const int64_t* labels, T smoothing, T dloss, T* dlogits, int64_t N,
                            int64_t K) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const T q = (k == labels[n] ? T(1) - smoothing : T(0)) + smoothing / static_cast<T>(K);
      dlogits[n * K + k] = (prob[n * K + k] - q) * dloss / static_cast<T>(N);
    }
}

template <class T>
T cross_entropy_soft_forward(const T* logits, const T* targets, T* prob, T* row_loss, int64_t N, int64_t K) {
  T total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* x = logits + n * K;
    const T lse = log_sum_exp(x, K);
    T loss = 0;
    for (int64_t k = 0; k < K; ++k) {
      loss -= targets[n * K + k] * (x[k] - lse);
      prob[n * K + k] = std::exp(x[k] - lse);
    }
    row_loss[n] = loss;
    total += loss;
  }
  return total / static_cast<T>(N);
}

template <class T>
void cross_entropy_soft_backward(const T* prob, const T* targets, T dloss, T* dlogits, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    T tsum = 0;
    for (int64_t k = 0; k < K; ++k) tsum += targets[n * K + k];
    for (int64_t k = 0; k < K; ++k)
      dlogits[n * K + k] = (prob[n * K + k] * tsum - targets[n * K + k]) * dloss / static_cast<T>(N);
  }
}

#define CVTRAIN_INSTANTIATE(T)                                                                    \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t);                               \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);                    \
  template void log_softmax_forward<T>(const T*, T*, int64_t, int64_t);                           \
  template void log_softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);                \
  template T cross_entropy_forward<T>(const T*, const int64_t*, T, T*, T*, int64_t, int64_t);     \
  template void cross_entropy_backward<T>(const T*, const int64_t*, T, T, T*, int64_t, int64_t);  \
  template T cross_entropy_soft_forward<T>(const T*, const T*, T*, T*, int64_t, int64_t);         \
  template void cross_entropy_soft_backward<T>(const T*, const T*, T, T*, int64_t, int64_t);
CVTRAIN_INSTANTIATE(float)
CVTRAIN_INSTANTIATE(double)
#undef CVTRAIN_INSTANTIATE

}  // namespace cvtrain::ref
