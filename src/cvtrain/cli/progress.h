// Progress display: a one-line bar with images/s and ETA redrawn in place when stderr is a
// terminal, for training steps and for evaluation passes; nothing otherwise (epoch and result lines
// are printed by the command either way).
#pragma once
#include <cstdint>
#include <string>

#include "cvtrain/train/progress.h"

namespace cvtrain::cli {

class Progress {
 public:
  explicit Progress(bool enabled);
  // Redraws at most ~10 times a second. eta_s: the caller's estimate of the seconds left in the run.
  void update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double accuracy,
              double images_per_s, double eta_s);
  // A pass over a dataset starting now, drawn as "evaluating test [====>    ] 3072/10000 5210 img/s
  // ETA 1s" after each batch. The Progress must outlive the returned function.
  PassProgress pass(std::string what);
  void clear();  // erase the bar before printing a line

 private:
  bool due(bool last);  // enabled, and the last draw is 0.1 s old (or this is the pass's last update)
  bool enabled_;
  double last_draw_ = -1;
  bool drawn_ = false;
};

}  // namespace cvtrain::cli
