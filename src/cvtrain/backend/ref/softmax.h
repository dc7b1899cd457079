// Reference softmax-family kernels: plain loops, templated on the scalar so tests can check the
// backward by finite differences in double. Same contract as backend/cpu/softmax.h; not fast.
#pragma once
#include <cstdint>

namespace cvtrain::ref {

// x: (N,K) -> y: (N,K)
template <class T>
void softmax_forward(const T* x, T* y, int64_t N, int64_t K);
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t N, int64_t K);

template <class T>
void log_softmax_forward(const T* x, T* y, int64_t N, int64_t K);
template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, int64_t N, int64_t K);

// logits: (N,K), labels: (N) -> prob: (N,K), row_loss: (N); returns the mean loss.
template <class T>
T cross_entropy_forward(const T* logits, const int64_t* labels, T smoothing, T* prob, T* row_loss, int64_t N,
                        int64_t K);
template <class T>
void cross_entropy_backward(const T* prob, const int64_t* labels, T smoothing, T dloss, T* dlogits, int64_t N,
                            int64_t K);

template <class T>
T cross_entropy_soft_forward(const T* logits, const T* targets, T* prob, T* row_loss, int64_t N, int64_t K);
template <class T>
void cross_entropy_soft_backward(const T* prob, const T* targets, T dloss, T* dlogits, int64_t N, int64_t K);

}  // namespace cvtrain::ref
