// The update follows the pseudocode of torch.optim.SGD's documentation (PyTorch 1.13), symbols and all:
// gamma lr, mu momentum, tau dampening, lambda weight decay, theta parameters, g gradient, b buffer.
#include "cvtrain/optim/sgd.h"

#include "cvtrain/backend/cuda/kernels.h"

namespace cvtrain::optim {

SGD::SGD(nn::ParameterArena& arena, const OptimOptions& options)
    : arena_(arena),
      momentum_(static_cast<float>(options.momentum)),
      dampening_(static_cast<float>(options.dampening)),
      nesterov_(options.nesterov) {
  check_options(options);
  groups_ = param_groups(arena_, options);
}

OptimState SGD::state() {
  if (momentum_device_.defined()) momentum_buffer = momentum_device_.to_vector();
  return {{{"momentum_buffer", &momentum_buffer}}, {}};
}

void SGD::step(float lr, float momentum) {
  const float mu = momentum, tau = dampening_;
  const bool nesterov = nesterov_;
  if (nesterov && mu <= 0.0f) fail_input("optim.momentum: Nesterov momentum requires momentum > 0, got ", mu);
  if (arena_.on_cuda()) {  // the same update on the GPU (backend/cuda/kernels.h: sgd_step)
    cuda::Runtime& rt = *arena_.cuda_runtime();
    const bool first_gpu = !momentum_device_.defined() && momentum_buffer.empty();
    if (mu != 0.0f && !momentum_device_.defined()) {  // a resumed buffer goes up once
      std::vector<float> b0 = momentum_buffer;
      b0.resize(static_cast<size_t>(arena_.size()), 0.0f);
      momentum_device_ = Tensor::from_vector(b0, {arena_.size()}).to_cuda(arena_.cuda_runtime());
    }
    float* b = mu != 0.0f ? momentum_device_.data<float>() : nullptr;
    for (const ParamGroup& s : groups_)
      cuda::sgd_step(rt, arena_.device_data() + s.begin, arena_.device_grad() + s.begin, b ? b + s.begin : nullptr,
                     s.end - s.begin, lr * s.lr_mult, s.weight_decay, s.l1, mu, tau, nesterov, first_gpu);
    return;
  }
  float* theta = arena_.data();       // (size)
  const float* grad = arena_.grad();  // (size)
  const bool first = momentum_buffer.empty();
  CHECK(first || static_cast<int64_t>(momentum_buffer.size()) == arena_.size(), "SGD: momentum buffer of ",
        momentum_buffer.size(), " floats for an arena of ", arena_.size());
  if (mu != 0.0f && first) momentum_buffer.assign(static_cast<size_t>(arena_.size()), 0.0f);
  float* b = momentum_buffer.data();  // (size) when mu != 0
  for (const ParamGroup& s : groups_) {
    const float lambda = s.weight_decay, lambda1 = s.l1, gamma = lr * s.lr_mult;
#pragma omp parallel for simd if (s.end - s.begin > 65536)
    for (int64_t i = s.begin; i < s.end; ++i) {
      float g = grad[i];                               // g_t <- grad f(theta_{t-1})
      if (lambda != 0.0f) g = g + lambda * theta[i];   // g_t <- g_t + lambda theta_{t-1}
      if (lambda1 != 0.0f) g = g + lambda1 * l1_sign(theta[i]);  // L1: g_t <- g_t + lambda_1 sign(theta_{t-1})
      if (mu != 0.0f) {
        b[i] = first ? g                               // b_1 <- g_1
                     : mu * b[i] + (1.0f - tau) * g;   // b_t <- mu b_{t-1} + (1 - tau) g_t
        g = nesterov ? g + mu * b[i]                   // g_t <- g_t + mu b_t
                     : b[i];                           // g_t <- b_t
      }
      theta[i] = theta[i] - gamma * g;                 // theta_t <- theta_{t-1} - gamma g_t
    }
  }
}

}  // namespace cvtrain::optim
