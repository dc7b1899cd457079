// Progress display: a one-line bar with images/s and ETA redrawn in place when stderr is a
// terminal; nothing per step otherwise (epoch lines are printed by the command either way).
#pragma once
#include <cstdint>

namespace cvtrain::cli {

class Progress {
 public:
  explicit Progress(bool enabled);
  // Redraws at most ~10 times a second. eta_s: the caller's estimate of the seconds left in the run.
  void update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double accuracy,
              double images_per_s, double eta_s);
  void clear();  // erase the bar before printing a line

 private:
  bool enabled_;
  double last_draw_ = -1;
  bool drawn_ = false;
};

}  // namespace cvtrain::cli
