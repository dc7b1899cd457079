// ReduceLROnPlateau, as torch's step(metrics) writes it (mode min, relative threshold, cooldown 0).
#include "cvtrain/optim/plateau.h"

#include <algorithm>
#include <limits>

namespace cvtrain::optim {

Plateau::Plateau(const ScheduleOptions& o)
    : lr0_(o.lr), factor_(o.plateau_factor), threshold_(o.plateau_threshold), min_lr_(o.min_lr),
      patience_(o.plateau_patience), s_{std::numeric_limits<double>::infinity(), 0, o.lr} {}

bool Plateau::step(double metric) {
  if (metric < s_.best * (1.0 - threshold_)) s_.best = metric, s_.bad = 0;
  else ++s_.bad;
  if (s_.bad <= patience_) return false;
  s_.bad = 0;
  const double reduced = std::max(s_.lr * factor_, min_lr_);
  if (s_.lr - reduced <= 1e-8) return false;  // torch's eps
  s_.lr = reduced;
  return true;
}

}  // namespace cvtrain::optim
