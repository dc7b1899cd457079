// The updates follow the pseudocode of torch.optim's documentation (PyTorch 1.13), symbols and all:
// gamma lr, lambda weight decay, theta parameters, g gradient, epsilon eps. Scalars that torch
// computes in Python (bias corrections, step sizes) are computed in double, then used as f32.
#include "cvtrain/optim/adaptive.h"

#include <cmath>

#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/base/error.h"

namespace cvtrain::optim {
namespace {

constexpr int64_t kParallelMin = 65536;  // below this, one thread is faster

// eps, or the optimizer's default when eps is negative (optim.eps: -1).
float eps_or(double eps, float fallback) { return eps < 0 ? fallback : static_cast<float>(eps); }

void allocate(std::vector<float>& buf, int64_t n, float value = 0.0f) {
  if (buf.empty()) buf.assign(static_cast<size_t>(n), value);
  CHECK(static_cast<int64_t>(buf.size()) == n, "optimizer state of ", buf.size(), " floats for an arena of ", n);
}

}  // namespace

Adam::Adam(nn::ParameterArena& arena, const OptimOptions& o, bool decoupled)
    : arena_(arena),
      beta1_(static_cast<float>(o.beta1)),
      beta2_(static_cast<float>(o.beta2)),
      eps_(eps_or(o.eps, 1e-8f)),
      decoupled_(decoupled) {
  check_options(o);
  groups_ = param_groups(arena, o);
}

OptimState Adam::state() {
  if (m_device_.defined()) m = m_device_.to_vector(), v = v_device_.to_vector();
  return {{{"m", &m}, {"v", &v}}, {{"t", &t}}};
}

void Adam::step(float lr, float beta1) {
  const int64_t n = arena_.size();
  allocate(m, n);
  allocate(v, n);
  t += 1;
  if (arena_.on_cuda() && !m_device_.defined()) {  // the state goes up once (zeros, or a resumed state)
    m_device_ = Tensor::from_vector(m, {n}).to_cuda(arena_.cuda_runtime());
    v_device_ = Tensor::from_vector(v, {n}).to_cuda(arena_.cuda_runtime());
  }
  const float beta2 = beta2_, epsilon = eps_;
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const float bias_correction2_sqrt =
      static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t))));
  float* theta = arena_.data();       // (n)
  const float* grad = arena_.grad();  // (n)
  float* m_ = m.data();               // (n)
  float* v_ = v.data();               // (n)
  for (const ParamGroup& s : groups_) {
    const double gamma = static_cast<double>(lr) * s.lr_mult;
    const float lambda = s.weight_decay, lambda1 = s.l1;
    const float decay = static_cast<float>(1.0 - gamma * lambda);        // AdamW's factor
    const float step_size = static_cast<float>(gamma / bias_correction1);  // gamma / (1 - beta1^t)
    const bool coupled_decay = !decoupled_ && lambda != 0.0f, decoupled_decay = decoupled_ && lambda != 0.0f;
    if (arena_.on_cuda()) {  // the same loop on the GPU (backend/cuda/extra.cu: adam_step)
      cuda::adam_step(*arena_.cuda_runtime(), arena_.device_data() + s.begin, arena_.device_grad() + s.begin,
                      m_device_.data<float>() + s.begin, v_device_.data<float>() + s.begin, s.end - s.begin, beta1,
                      beta2, epsilon, step_size, bias_correction2_sqrt, lambda, lambda1, decay, decoupled_);
      continue;
    }
#pragma omp parallel for simd if (s.end - s.begin > kParallelMin)
    for (int64_t i = s.begin; i < s.end; ++i) {
      float g = grad[i];                                      // g_t <- grad f(theta_{t-1})
      if (lambda1 != 0.0f) g = g + lambda1 * l1_sign(theta[i]);  // L1 (adam and adamw): g_t <- g_t + lambda_1 sign(theta_{t-1})
      if (decoupled_decay) theta[i] = theta[i] * decay;       // AdamW: theta_t <- theta_{t-1} - gamma lambda theta_{t-1}
      if (coupled_decay) g = g + lambda * theta[i];           // Adam:  g_t <- g_t + lambda theta_{t-1}
      m_[i] = beta1 * m_[i] + (1.0f - beta1) * g;             // m_t <- beta1 m_{t-1} + (1 - beta1) g_t
      v_[i] = beta2 * v_[i] + (1.0f - beta2) * g * g;         // v_t <- beta2 v_{t-1} + (1 - beta2) g_t^2
      // theta_t <- theta_{t-1} - gamma m^_t / (sqrt(v^_t) + epsilon), m^ = m/(1-beta1^t), v^ = v/(1-beta2^t)
      const float denom = std::sqrt(v_[i]) / bias_correction2_sqrt + epsilon;
      theta[i] = theta[i] - step_size * (m_[i] / denom);
    }
  }
}

RMSprop::RMSprop(nn::ParameterArena& arena, const OptimOptions& o)
    : arena_(arena),
      alpha_(static_cast<float>(o.alpha)),
      eps_(eps_or(o.eps, 1e-8f)),
      momentum_(static_cast<float>(o.momentum)),
      centered_(o.centered) {
  check_options(o);
  groups_ = param_groups(arena, o);
}

void RMSprop::step(float lr, float momentum) {
  const int64_t n = arena_.size();
  allocate(square_avg, n);
  if (centered_) allocate(grad_avg, n);
  const float mu = momentum, alpha = alpha_, epsilon = eps_;
  if (mu > 0.0f) allocate(momentum_buffer, n);
  float* theta = arena_.data();       // (n)
  const float* grad = arena_.grad();  // (n)
  float* v = square_avg.data();       // (n)
  float* g_ave = grad_avg.data();     // (n) when centered
  float* b = momentum_buffer.data();  // (n) when mu > 0
  const bool centered = centered_;
  for (const ParamGroup& s : groups_) {
    const float gamma = lr * s.lr_mult, lambda = s.weight_decay, lambda1 = s.l1;
#pragma omp parallel for simd if (s.end - s.begin > kParallelMin)
    for (int64_t i = s.begin; i < s.end; ++i) {
      float g = grad[i];                                  // g_t <- grad f(theta_{t-1})
      if (lambda != 0.0f) g = g + lambda * theta[i];      // g_t <- g_t + lambda theta_{t-1}
      if (lambda1 != 0.0f) g = g + lambda1 * l1_sign(theta[i]);  // L1: g_t <- g_t + lambda_1 sign(theta_{t-1})
      v[i] = alpha * v[i] + (1.0f - alpha) * g * g;       // v_t <- alpha v_{t-1} + (1 - alpha) g_t^2
      float v_tilde = v[i];                               // v~_t <- v_t
      if (centered) {
        g_ave[i] = alpha * g_ave[i] + (1.0f - alpha) * g;  // g^ave_t <- alpha g^ave_{t-1} + (1 - alpha) g_t
        v_tilde = v_tilde - g_ave[i] * g_ave[i];           // v~_t <- v~_t - (g^ave_t)^2
      }
      const float denom = std::sqrt(v_tilde) + epsilon;
      if (mu > 0.0f) {
        b[i] = mu * b[i] + g / denom;                     // b_t <- mu b_{t-1} + g_t / (sqrt(v~_t) + epsilon)
        theta[i] = theta[i] - gamma * b[i];               // theta_t <- theta_{t-1} - gamma b_t
      } else {
        theta[i] = theta[i] - gamma * (g / denom);        // theta_t <- theta_{t-1} - gamma g_t / (sqrt(v~_t) + epsilon)
      }
    }
  }
}

Adagrad::Adagrad(nn::ParameterArena& arena, const OptimOptions& o)
    : arena_(arena),
      eps_(eps_or(o.eps, 1e-10f)),
      lr_decay_(static_cast<float>(o.lr_decay)),
      initial_accumulator_(static_cast<float>(o.initial_accumulator)) {
  check_options(o);
  groups_ = param_groups(arena, o);
}

void Adagrad::step(float lr, float /*momentum*/) {
  const int64_t n = arena_.size();
  if (state_sum.empty()) {
    allocate(state_sum, n, initial_accumulator_);
    // NOTE: the padding between entries must stay 0 (see ParameterArena); its sum starts at 0 too.
    const auto& entries = arena_.entries();
    for (size_t e = 0; e < entries.size(); ++e) {
      const int64_t pad_end = e + 1 < entries.size() ? entries[e + 1].offset : n;
      for (int64_t i = entries[e].offset + entries[e].numel; i < pad_end; ++i) state_sum[static_cast<size_t>(i)] = 0.0f;
    }
  }
  allocate(state_sum, n);
  t += 1;
  const float epsilon = eps_;
  float* theta = arena_.data();       // (n)
  const float* grad = arena_.grad();  // (n)
  float* sum = state_sum.data();      // (n)
  for (const ParamGroup& s : groups_) {
    // gamma~ <- gamma / (1 + (t - 1) eta)
    const float gamma_t = static_cast<float>(static_cast<double>(lr) * s.lr_mult /
                                             (1.0 + static_cast<double>(t - 1) * lr_decay_));
    const float lambda = s.weight_decay, lambda1 = s.l1;
#pragma omp parallel for simd if (s.end - s.begin > kParallelMin)
    for (int64_t i = s.begin; i < s.end; ++i) {
      float g = grad[i];                                        // g_t <- grad f(theta_{t-1})
      if (lambda != 0.0f) g = g + lambda * theta[i];            // g_t <- g_t + lambda theta_{t-1}
      if (lambda1 != 0.0f) g = g + lambda1 * l1_sign(theta[i]);  // L1: g_t <- g_t + lambda_1 sign(theta_{t-1})
      sum[i] = sum[i] + g * g;                                  // state_sum_t <- state_sum_{t-1} + g_t^2
      const float denom = std::sqrt(sum[i]) + epsilon;
      theta[i] = theta[i] - gamma_t * (g / denom);              // theta_t <- theta_{t-1} - gamma~ g_t / (sqrt(state_sum_t) + epsilon)
    }
  }
}

}  // namespace cvtrain::optim
