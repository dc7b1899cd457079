// The adaptive optimizers: Adam and AdamW, RMSprop (with momentum, centered), Adagrad, each exactly
// torch.optim's single-tensor path (PyTorch 1.13) over a ParameterArena. State is plain named
// members, one float per arena float, allocated at the first step. Not SGD (sgd.h).
#pragma once
#include <vector>

#include "cvtrain/optim/optimizer.h"

namespace cvtrain::optim {

// Adam (Kingma & Ba 2015, Algorithm 1) with weight decay as L2 on the gradient; with
// decoupled = true, AdamW (Loshchilov & Hutter 2019, Algorithm 2): theta <- theta (1 - gamma lambda).
class Adam : public Optimizer {
 public:
  Adam(nn::ParameterArena& arena, const OptimOptions& o, bool decoupled);
  void step(float lr, float beta1) override;
  OptimState state() override;  // device: cuda: m and v copied back from the GPU first
  float base_momentum() const override { return beta1_; }

  std::vector<float> m;  // first moment estimate m_t
  std::vector<float> v;  // second raw moment estimate v_t
  int64_t t = 0;         // steps taken

 private:
  nn::ParameterArena& arena_;
  float beta1_, beta2_, eps_;
  bool decoupled_;
  std::vector<ParamGroup> groups_;
  Tensor m_device_, v_device_;  // m and v on the GPU when the arena is there (m, v mirror them for checkpoints)
};

// RMSprop (Hinton, Lecture 6e; centered: Graves 2013, eq. 38-45) as torch.optim.RMSprop.
class RMSprop : public Optimizer {
 public:
  RMSprop(nn::ParameterArena& arena, const OptimOptions& o);
  void step(float lr, float momentum) override;
  OptimState state() override {
    return {{{"square_avg", &square_avg}, {"grad_avg", &grad_avg}, {"momentum_buffer", &momentum_buffer}}, {}};
  }
  float base_momentum() const override { return momentum_; }

  std::vector<float> square_avg;       // v_t
  std::vector<float> grad_avg;         // g^ave_t (centered only)
  std::vector<float> momentum_buffer;  // b_t (momentum > 0 only)

 private:
  nn::ParameterArena& arena_;
  float alpha_, eps_, momentum_;
  bool centered_;
  std::vector<ParamGroup> groups_;
};

// Adagrad (Duchi et al. 2011) as torch.optim.Adagrad, with its lr decay.
class Adagrad : public Optimizer {
 public:
  Adagrad(nn::ParameterArena& arena, const OptimOptions& o);
  void step(float lr, float momentum) override;
  OptimState state() override { return {{{"state_sum", &state_sum}}, {{"t", &t}}}; }
  float base_momentum() const override { return 0.0f; }

  std::vector<float> state_sum;  // sum of squared gradients
  int64_t t = 0;

 private:
  nn::ParameterArena& arena_;
  float eps_, lr_decay_, initial_accumulator_;
  std::vector<ParamGroup> groups_;
};

}  // namespace cvtrain::optim
