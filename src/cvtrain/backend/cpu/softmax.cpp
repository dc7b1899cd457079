// Fast softmax-family kernels: OpenMP over rows when the batch is large (each row written by one
// thread; the mean loss is summed serially in double, so it does not depend on the thread count),
// exp() taken once per element and reused for the probabilities, losses formed from x - max so
// large logits neither overflow nor cancel.
#include "cvtrain/backend/cpu/softmax.h"

#include <cmath>

namespace cvtrain::cpu {

namespace {

constexpr int64_t kParallelMin = 32768;

// One row: e = exp(x - max(x)); returns max(x) and sum(e) through the out-parameters.
inline void exp_shifted(const float* __restrict x, float* __restrict e, int64_t K, float& max, float& sum) {
  float m = x[0];
  for (int64_t k = 1; k < K; ++k) m = x[k] > m ? x[k] : m;
  float s = 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    e[k] = std::exp(x[k] - m);
    s += e[k];
  }
  max = m, sum = s;
}

double mean_of(const float* v, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += v[i];
  return s / static_cast<double>(n);
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t N, int64_t K) {
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    float m, s;
    exp_shifted(x + n * K, y + n * K, K, m, s);
    const float inv = 1.0f / s;
    for (int64_t k = 0; k < K; ++k) y[n * K + k] *= inv;
  }
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t N, int64_t K) {
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* yr = y + n * K;
    const float* dyr = dy + n * K;
    float dot = 0.0f;
    for (int64_t k = 0; k < K; ++k) dot += dyr[k] * yr[k];
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] = yr[k] * (dyr[k] - dot);
  }
}

void log_softmax_forward(const float* x, float* y, int64_t N, int64_t K) {
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    float m, s;
    exp_shifted(x + n * K, y + n * K, K, m, s);  // y used as scratch for exp, then overwritten
    const float log_s = std::log(s);
    // (x - m) first: exact near the maximum, where x - (m + log s) would cancel.
    for (int64_t k = 0; k < K; ++k) y[n * K + k] = (x[n * K + k] - m) - log_s;
  }
}

void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t N, int64_t K) {
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* dyr = dy + n * K;
    float sum = 0.0f;
    for (int64_t k = 0; k < K; ++k) sum += dyr[k];
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] = dyr[k] - std::exp(y[n * K + k]) * sum;
  }
}

float cross_entropy_forward(const float* logits, const int64_t* labels, float smoothing, float* prob, float* row_loss,
                            int64_t N, int64_t K) {
  const float off = smoothing / static_cast<float>(K);  // weight of every class
  const float on = 1.0f - smoothing;                    // extra weight of the labelled class
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * K;
    float* p = prob + n * K;
    float m, s;
    exp_shifted(x, p, K, m, s);
    const float inv = 1.0f / s;
    float sum_shifted = 0.0f;  // sum_k (x_k - m)
    for (int64_t k = 0; k < K; ++k) {
      p[k] *= inv;
      sum_shifted += x[k] - m;
    }
    // -sum_k q_k log p_k with log p_k = (x_k - m) - log s and sum_k q_k = 1.
    const float log_s = std::log(s);
    row_loss[n] = log_s - on * (x[labels[n]] - m) - (smoothing > 0.0f ? off * sum_shifted : 0.0f);
  }
  return static_cast<float>(mean_of(row_loss, N));
}

void cross_entropy_backward(const float* prob, const int64_t* labels, float smoothing, float dloss, float* dlogits,
                            int64_t N, int64_t K) {
  const float g = dloss / static_cast<float>(N), off = smoothing / static_cast<float>(K), on = 1.0f - smoothing;
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) dlogits[n * K + k] = (prob[n * K + k] - off) * g;
    dlogits[n * K + labels[n]] -= on * g;
  }
}

float cross_entropy_soft_forward(const float* logits, const float* targets, float* prob, float* row_loss, int64_t N,
                                 int64_t K) {
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * K;
    const float* t = targets + n * K;
    float* p = prob + n * K;
    float m, s;
    exp_shifted(x, p, K, m, s);
    const float inv = 1.0f / s;
    float tsum = 0.0f, tx = 0.0f;  // sum_k t_k, sum_k t_k (x_k - m)
    for (int64_t k = 0; k < K; ++k) {
      p[k] *= inv;
      tsum += t[k];
      tx += t[k] * (x[k] - m);
    }
    row_loss[n] = std::log(s) * tsum - tx;
  }
  return static_cast<float>(mean_of(row_loss, N));
}

void cross_entropy_soft_backward(const float* prob, const float* targets, float dloss, float* dlogits, int64_t N,
                                 int64_t K) {
  const float g = dloss / static_cast<float>(N);
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* t = targets + n * K;
    float tsum = 0.0f;
    for (int64_t k = 0; k < K; ++k) tsum += t[k];
    for (int64_t k = 0; k < K; ++k) dlogits[n * K + k] = (prob[n * K + k] * tsum - t[k]) * g;
  }
}

}  // namespace cvtrain::cpu
