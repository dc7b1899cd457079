// The updates follow timm's lars.py and lamb.py (PyTorch code, no pseudocode of their own) with the
// papers' symbols: gamma lr, eta trust coefficient, lambda weight decay, lambda_1 L1, theta parameters,
// g gradient, b momentum buffer. A layer is one arena entry; norms are taken over it in double, in
// fixed chunks added in order, so the bits do not depend on the thread count.
#include "cvtrain/optim/layerwise.h"

#include <algorithm>
#include <cmath>

#include "cvtrain/base/error.h"

namespace cvtrain::optim {
namespace {

constexpr int64_t kChunk = 65536;  // below this, one thread is faster

// sum over i in [begin, end) of term(i), in double: chunk sums in parallel, added in chunk order.
template <class Term>
double chunked_sum(int64_t begin, int64_t end, Term term) {
  const int64_t chunks = (end - begin + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(std::max<int64_t>(chunks, 0)), 0.0);
#pragma omp parallel for if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    double s = 0.0;
    for (int64_t i = begin + c * kChunk; i < std::min(end, begin + (c + 1) * kChunk); ++i) s += term(i);
    partial[static_cast<size_t>(c)] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// Per entry: the trust ratio applies unless it is a bias or norm parameter withheld from decay.
std::vector<bool> adapted_entries(const nn::ParameterArena& arena, const OptimOptions& o) {
  std::vector<bool> adapt;
  for (const auto& e : arena.entries()) adapt.push_back(o.decay_bias_and_norm || !e.is_bias_or_norm);
  return adapt;
}

float eps_or(double eps, float fallback) { return eps < 0 ? fallback : static_cast<float>(eps); }

}  // namespace

LARS::LARS(nn::ParameterArena& arena, const OptimOptions& o)
    : arena_(arena),
      momentum_(static_cast<float>(o.momentum)),
      eta_(static_cast<float>(o.trust_coefficient)),
      eps_(eps_or(o.eps, 1e-8f)) {
  check_options(o);
  check_runs_on_cuda("lars", arena.on_cuda());
  layers_ = entry_groups(arena, o);
  adapt_ = adapted_entries(arena, o);
}

void LARS::step(float lr, float momentum) {
  const float mu = momentum, eta = eta_, epsilon = eps_;
  float* theta = arena_.data();       // (size)
  const float* grad = arena_.grad();  // (size)
  const bool first = momentum_buffer.empty();
  CHECK(first || static_cast<int64_t>(momentum_buffer.size()) == arena_.size(), "LARS: momentum buffer of ",
        momentum_buffer.size(), " floats for an arena of ", arena_.size());
  if (mu != 0.0f && first) momentum_buffer.assign(static_cast<size_t>(arena_.size()), 0.0f);
  float* b = momentum_buffer.data();  // (size) when mu != 0
  for (size_t e = 0; e < layers_.size(); ++e) {
    const ParamGroup& s = layers_[e];
    const float lambda = s.weight_decay, lambda1 = s.l1, gamma = lr * s.lr_mult;
    // g_t <- grad f(theta_{t-1}) + lambda_1 sign(theta_{t-1}): the L1 penalty is part of the loss's gradient
    auto g_at = [&](int64_t i) { return lambda1 != 0.0f ? grad[i] + lambda1 * l1_sign(theta[i]) : grad[i]; };
    float ratio = 1.0f;
    if (adapt_[e]) {
      const float w_norm = static_cast<float>(
          std::sqrt(chunked_sum(s.begin, s.end, [&](int64_t i) { return double(theta[i]) * theta[i]; })));
      const float g_norm = static_cast<float>(
          std::sqrt(chunked_sum(s.begin, s.end, [&](int64_t i) { return double(g_at(i)) * g_at(i); })));
      // trust ratio eta ||theta|| / (||g|| + lambda ||theta|| + epsilon), 1 when either norm is 0
      if (w_norm > 0.0f && g_norm > 0.0f) ratio = eta * w_norm / (g_norm + w_norm * lambda + epsilon);
    }
#pragma omp parallel for simd if (s.end - s.begin > kChunk)
    for (int64_t i = s.begin; i < s.end; ++i) {
      float d = (g_at(i) + lambda * theta[i]) * ratio;  // d_t <- ratio (g_t + lambda theta_{t-1})
      if (mu != 0.0f) {
        b[i] = first ? d                                 // b_1 <- d_1
                     : mu * b[i] + d;                    // b_t <- mu b_{t-1} + d_t
        d = b[i];
      }
      theta[i] = theta[i] - gamma * d;                   // theta_t <- theta_{t-1} - gamma b_t
    }
  }
}

LAMB::LAMB(nn::ParameterArena& arena, const OptimOptions& o)
    : arena_(arena),
      beta1_(static_cast<float>(o.beta1)),
      beta2_(static_cast<float>(o.beta2)),
      eps_(eps_or(o.eps, 1e-6f)) {
  check_options(o);
  check_runs_on_cuda("lamb", arena.on_cuda());
  layers_ = entry_groups(arena, o);
  adapt_ = adapted_entries(arena, o);
}

void LAMB::step(float lr, float beta1) {
  const int64_t n = arena_.size();
  if (m.empty()) m.assign(static_cast<size_t>(n), 0.0f);
  if (v.empty()) v.assign(static_cast<size_t>(n), 0.0f);
  CHECK(static_cast<int64_t>(m.size()) == n && static_cast<int64_t>(v.size()) == n, "LAMB: state of ", m.size(),
        " and ", v.size(), " floats for an arena of ", n);
  t += 1;
  const float beta2 = beta2_, epsilon = eps_;
  // bias corrections 1 - beta^t, as timm computes them (Python floats, then f32 in the tensor ops)
  const float bias_correction1 = static_cast<float>(1.0 - std::pow(double(beta1), double(t)));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(double(beta2), double(t))));
  float* theta = arena_.data();       // (n)
  const float* grad = arena_.grad();  // (n)
  float* m_ = m.data();               // (n)
  float* v_ = v.data();               // (n)
  for (size_t e = 0; e < layers_.size(); ++e) {
    const ParamGroup& s = layers_[e];
    const float lambda = s.weight_decay, lambda1 = s.l1, gamma = lr * s.lr_mult;
    r_.resize(static_cast<size_t>(s.end - s.begin));
    float* r = r_.data();  // (s.end - s.begin): r[i - s.begin] for i in [s.begin, s.end)
    const int64_t o = s.begin;
#pragma omp parallel for simd if (s.end - s.begin > kChunk)
    for (int64_t i = s.begin; i < s.end; ++i) {
      float g = grad[i];                                        // g_t <- grad f(theta_{t-1})
      if (lambda1 != 0.0f) g = g + lambda1 * l1_sign(theta[i]);  // L1: g_t <- g_t + lambda_1 sign(theta_{t-1})
      m_[i] = beta1 * m_[i] + (1.0f - beta1) * g;               // m_t <- beta1 m_{t-1} + (1 - beta1) g_t
      v_[i] = beta2 * v_[i] + (1.0f - beta2) * g * g;           // v_t <- beta2 v_{t-1} + (1 - beta2) g_t^2
      const float denom = std::sqrt(v_[i]) / bias_correction2_sqrt + epsilon;
      float r_t = (m_[i] / bias_correction1) / denom;           // r_t <- m^_t / (sqrt(v^_t) + epsilon)
      if (lambda != 0.0f) r_t = r_t + lambda * theta[i];        // r_t <- r_t + lambda theta_{t-1}
      r[i - o] = r_t;
    }
    float ratio = 1.0f;
    if (adapt_[e]) {
      const float w_norm = static_cast<float>(
          std::sqrt(chunked_sum(s.begin, s.end, [&](int64_t i) { return double(theta[i]) * theta[i]; })));
      const float r_norm = static_cast<float>(
          std::sqrt(chunked_sum(s.begin, s.end, [&](int64_t i) { return double(r[i - o]) * r[i - o]; })));
      // trust ratio ||theta|| / ||r||, 1 when either norm is 0
      if (w_norm > 0.0f && r_norm > 0.0f) ratio = w_norm / r_norm;
    }
#pragma omp parallel for simd if (s.end - s.begin > kChunk)
    for (int64_t i = s.begin; i < s.end; ++i)
      theta[i] = theta[i] - gamma * (ratio * r[i - o]);  // theta_t <- theta_{t-1} - gamma ratio r_t
  }
}

}  // namespace cvtrain::optim
