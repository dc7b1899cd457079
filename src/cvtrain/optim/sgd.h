// Stochastic gradient descent with momentum over a ParameterArena, exactly torch.optim.SGD
// (single-tensor path): weight decay as L2 added to the gradient, the momentum buffer set to the
// gradient at the first step, dampening, Nesterov. Learning rate and momentum come with each step,
// since schedules (OneCycleLR) move both. Not a scheduler, not a gradient clipper.
#pragma once
#include <vector>

#include "cvtrain/optim/optimizer.h"

namespace cvtrain::optim {

class SGD : public Optimizer {
 public:
  // Reads name-independent fields of `options` (weight decay, L1, parameter groups) and sgd's own:
  // momentum (mu for step(lr); step(lr, momentum) overrides it per step), dampening (tau), nesterov.
  // The arena must outlive the optimizer.
  SGD(nn::ParameterArena& arena, const OptimOptions& options);

  // One update of every parameter from the gradients now in the arena. momentum 0 skips the buffer
  // entirely (as torch does), leaving it as it was.
  void step(float lr, float momentum) override;
  void step(float lr) { step(lr, momentum_); }
  OptimState state() override;  // on a GPU, copies the device buffer into momentum_buffer first
  float base_momentum() const override { return momentum_; }

  // State, for checkpoints: the momentum buffer b, one float per arena float; empty until the first
  // step with momentum, which sets it to that step's gradient (b_1 = g_1).
  std::vector<float> momentum_buffer;

 private:
  nn::ParameterArena& arena_;
  float momentum_, dampening_;
  bool nesterov_;
  std::vector<ParamGroup> groups_;
  Tensor momentum_device_;  // b on the GPU when the arena is there (momentum_buffer mirrors it for checkpoints)
};

}  // namespace cvtrain::optim
