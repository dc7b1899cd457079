// Softmax-family kernels over the rows of (N,K): softmax, log-softmax and cross-entropy with class
// labels (optional label smoothing) or probability targets, all with the row maximum subtracted
// before exp(). Raw pointers and sizes in, no allocation, no autograd. Reference twins:
// backend/ref/softmax.h.
#pragma once
#include <cstdint>

namespace cvtrain::cpu {

// x: (N,K) -> y: (N,K)
void softmax_forward(const float* x, float* y, int64_t N, int64_t K);
// y: softmax output (N,K), dy: (N,K) -> dx: (N,K) = y * (dy - sum_k dy*y)
void softmax_backward(const float* y, const float* dy, float* dx, int64_t N, int64_t K);

// x: (N,K) -> y: (N,K) = x - max - log(sum exp(x - max))
void log_softmax_forward(const float* x, float* y, int64_t N, int64_t K);
// y: log-softmax output (N,K), dy: (N,K) -> dx: (N,K) = dy - exp(y) * sum_k dy
void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t N, int64_t K);

// logits: (N,K), labels: (N) each in [0,K) -> prob: (N,K) softmax (what the backward needs),
// row_loss: (N). Returns the mean loss. With smoothing s the target of row i is
// q = (1-s)*onehot(label_i) + s/K, as PyTorch's F.cross_entropy(label_smoothing=s).
float cross_entropy_forward(const float* logits, const int64_t* labels, float smoothing, float* prob, float* row_loss,
                            int64_t N, int64_t K);
// prob: (N,K) from the forward, labels: (N), dloss: the loss's gradient -> dlogits: (N,K) = (prob - q) * dloss / N
void cross_entropy_backward(const float* prob, const int64_t* labels, float smoothing, float dloss, float* dlogits,
                            int64_t N, int64_t K);

// logits, targets: (N,K) (rows of probabilities) -> prob: (N,K), row_loss: (N); returns the mean loss.
float cross_entropy_soft_forward(const float* logits, const float* targets, float* prob, float* row_loss, int64_t N,
                                 int64_t K);
// -> dlogits: (N,K) = (prob * sum_k t - t) * dloss / N (targets need not sum to exactly 1)
void cross_entropy_soft_backward(const float* prob, const float* targets, float dloss, float* dlogits, int64_t N,
                                 int64_t K);

}  // namespace cvtrain::cpu
