// Stochastic gradient descent with momentum over a ParameterArena, exactly torch.optim.SGD
// (single-tensor path): weight decay as L2 added to the gradient, the momentum buffer set to the
// gradient at the first step, dampening, Nesterov. Learning rate and momentum come with each step,
// since schedules (OneCycleLR) move both. Not a scheduler, not a gradient clipper.
#pragma once
#include <vector>

#include "cvtrain/optim/optimizer.h"

namespace cvtrain::optim {

struct SgdOptions {
  float momentum = 0.0f;      // mu for step(lr); step(lr, momentum) overrides it per step
  float dampening = 0.0f;     // tau
  float weight_decay = 0.0f;  // lambda
  float l1 = 0.0f;            // lambda_1: L1, lambda_1 sign(theta) added to the gradient (not in torch)
  bool nesterov = false;
  // false: no weight decay on the arena entries flagged is_bias_or_norm (torch applies it to all
  // parameters unless they are put in a separate group with weight_decay=0, which this mirrors).
  bool decay_bias_and_norm = true;
  float bias_lr_mult = 1.0f;  // the bias/norm group's lr is lr * bias_lr_mult
  std::vector<std::string> freeze;                          // OptimOptions::freeze
  std::vector<std::pair<std::string, float>> lr_mults;      // OptimOptions::lr_mults
};

class SGD : public Optimizer {
 public:
  // The arena must outlive the optimizer.
  SGD(nn::ParameterArena& arena, const SgdOptions& options);

  // One update of every parameter from the gradients now in the arena. momentum 0 skips the buffer
  // entirely (as torch does), leaving it as it was.
  void step(float lr, float momentum) override;
  void step(float lr) { step(lr, options_.momentum); }
  OptimState state() override;  // on a GPU, copies the device buffer into momentum_buffer first
  float base_momentum() const override { return options_.momentum; }

  const SgdOptions& options() const { return options_; }

  // State, for checkpoints: the momentum buffer b, one float per arena float; empty until the first
  // step with momentum, which sets it to that step's gradient (b_1 = g_1).
  std::vector<float> momentum_buffer;

 private:
  nn::ParameterArena& arena_;
  SgdOptions options_;
  std::vector<ParamGroup> groups_;
  Tensor momentum_device_;  // b on the GPU when the arena is there (momentum_buffer mirrors it for checkpoints)
};

}  // namespace cvtrain::optim
