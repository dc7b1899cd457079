// ReduceLROnPlateau (torch.optim.lr_scheduler.ReduceLROnPlateau, mode "min", threshold_mode "rel",
// no cooldown): the one schedule that reads a metric, the validation loss after each evaluation. Its
// state is three numbers, which checkpoints carry. The lr of the step is the "plateau" schedule's
// (the lr, with its warmup) times scale(). Not the evaluation itself (train/trainer.cpp).
#pragma once
#include <cstdint>

#include "cvtrain/optim/schedule.h"

namespace cvtrain::optim {

class Plateau {
 public:
  struct State {
    double best;       // the lowest metric so far (+inf before the first)
    int64_t bad = 0;   // evaluations since it improved
    double lr;         // the lr after the reductions so far
  };
  // o: the options in steps (in_steps): lr, min_lr, plateau_factor, plateau_patience, plateau_threshold.
  explicit Plateau(const ScheduleOptions& o);

  // One evaluation's metric (lower is better). Returns true when it reduced the lr: after more than
  // plateau_patience evaluations in a row without a value below best * (1 - plateau_threshold), lr
  // becomes max(lr * plateau_factor, min_lr) (unchanged when that moves it by less than 1e-8).
  bool step(double metric);
  double scale() const { return s_.lr / lr0_; }
  const State& state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  double lr0_, factor_, threshold_, min_lr_;
  int64_t patience_;
  State s_;
};

}  // namespace cvtrain::optim
