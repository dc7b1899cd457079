// The layer-wise adaptive optimizers for large batches, LARS and LAMB, with timm's semantics
// (timm/optim/lars.py, lamb.py): each parameter tensor's step is scaled by a trust ratio of its
// weight norm to its update norm (1 when either norm is 0). Biases and norm parameters keep the ratio
// unless optim.decay_bias_and_norm is false, which withholds decay and ratio from them. CPU only.
#pragma once
#include <vector>

#include "cvtrain/optim/optimizer.h"

namespace cvtrain::optim {

// LARS (You, Gitman & Ginsburg 2017, Algorithm 1) as timm's Lars with momentum, no dampening and
// no Nesterov: per layer, d = eta ||w|| / (||g|| + lambda ||w|| + epsilon) (g + lambda w), then
// torch.optim.SGD's heavy-ball momentum on d and w <- w - gamma b.
class LARS : public Optimizer {
 public:
  LARS(nn::ParameterArena& arena, const OptimOptions& o);
  void step(float lr, float momentum) override;
  OptimState state() override { return {{{"momentum_buffer", &momentum_buffer}}, {}}; }
  float base_momentum() const override { return momentum_; }

  // b, one float per arena float; empty until the first step with momentum, which sets b_1 = d_1.
  std::vector<float> momentum_buffer;

 private:
  nn::ParameterArena& arena_;
  float momentum_, eta_, eps_;
  std::vector<ParamGroup> layers_;  // one per arena entry
  std::vector<bool> adapt_;         // per entry: the trust ratio applies
};

// LAMB (You et al. 2019, Algorithm 2) as timm's Lamb without its global gradient clipping (use
// train.clip_grad_norm): Adam's bias-corrected moments, r = m^/(sqrt(v^) + epsilon) + lambda w,
// per layer w <- w - gamma (||w|| / ||r||) r.
class LAMB : public Optimizer {
 public:
  LAMB(nn::ParameterArena& arena, const OptimOptions& o);
  void step(float lr, float beta1) override;
  OptimState state() override { return {{{"m", &m}, {"v", &v}}, {{"t", &t}}}; }
  float base_momentum() const override { return beta1_; }

  std::vector<float> m;  // first moment estimate m_t
  std::vector<float> v;  // second raw moment estimate v_t
  int64_t t = 0;         // steps taken

 private:
  nn::ParameterArena& arena_;
  float beta1_, beta2_, eps_;
  std::vector<ParamGroup> layers_;  // one per arena entry
  std::vector<bool> adapt_;         // per entry: the trust ratio applies
  std::vector<float> r_;            // scratch: this step's update r of one layer
};

}  // namespace cvtrain::optim
