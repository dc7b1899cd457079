// The schedules, transcribed from torch/optim/lr_scheduler.py (1.13), and their table.
#include "cvtrain/optim/schedule.h"

#include <cmath>
#include <numbers>

#include "cvtrain/base/error.h"

namespace cvtrain::optim {

namespace {

constexpr double kPi = std::numbers::pi;

void check_total_steps(const ScheduleSpec& spec) {
  if (spec.total_steps <= 0)
    fail_input("optim.total_steps must be positive for schedule '", spec.name, "', got ", spec.total_steps);
}

Schedule make_constant(const ScheduleSpec& spec) {
  ScheduleValue v{static_cast<float>(spec.base_lr), static_cast<float>(spec.base_momentum)};
  return [v](int64_t step) {
    CHECK(step >= 0, "constant schedule at step ", step);
    return v;
  };
}

// CosineAnnealingLR's closed form (its _get_closed_form_lr; step() computes the same values by a
// recurrence): eta_t = eta_min + (eta_max - eta_min) * (1 + cos(pi * t / T_max)) / 2
// (Loshchilov & Hutter 2017, eq. 5, without restarts). Past T_max it rises again, as torch's does.
Schedule make_cosine(const ScheduleSpec& spec) {
  check_total_steps(spec);
  if (!(spec.min_lr >= 0.0 && spec.min_lr <= spec.base_lr))
    fail_input("optim.min_lr must be in [0, lr], got ", spec.min_lr);
  const double eta_max = spec.base_lr, eta_min = spec.min_lr, t_max = static_cast<double>(spec.total_steps);
  const float momentum = static_cast<float>(spec.base_momentum);
  return [=](int64_t step) {
    CHECK(step >= 0, "cosine schedule at step ", step);
    double lr = eta_min + (eta_max - eta_min) * (1.0 + std::cos(kPi * static_cast<double>(step) / t_max)) / 2.0;
    return ScheduleValue{static_cast<float>(lr), momentum};
  };
}

// OneCycleLR (Smith & Topin 2018) as torch 1.13 computes it with anneal_strategy='cos',
// three_phase=False, cycle_momentum=True: phase 1 raises the lr from initial_lr to max_lr and lowers
// the momentum from max to base; phase 2 anneals the lr to min_lr and raises the momentum back.
// NOTE: the phase boundary is float(pct_start * total_steps) - 1, not an integer: with pct_start
// 0.15 and 100 steps it is 14.000000000000002, so step 14 is still in phase 1.
Schedule make_onecycle(const ScheduleSpec& spec) {
  check_total_steps(spec);
  if (!(spec.pct_start >= 0.0 && spec.pct_start <= 1.0))
    fail_input("optim.pct_start must be in [0, 1], got ", spec.pct_start);
  if (!(spec.div_factor > 0.0 && spec.final_div_factor > 0.0))
    fail_input("optim.div_factor and optim.final_div_factor must be positive");
  struct Phase {
    double end_step, start_lr, end_lr, start_momentum, end_momentum;
  };
  const double max_lr = spec.base_lr;
  const double initial_lr = max_lr / spec.div_factor;
  const double min_lr = initial_lr / spec.final_div_factor;
  const double m_max = spec.onecycle_max_momentum, m_base = spec.onecycle_base_momentum;
  const int64_t total = spec.total_steps;
  const Phase phases[2] = {
      {spec.pct_start * static_cast<double>(total) - 1.0, initial_lr, max_lr, m_max, m_base},
      {static_cast<double>(total) - 1.0, max_lr, min_lr, m_base, m_max},
  };
  // _annealing_cos: "cosine anneal from start to end as pct goes from 0.0 to 1.0"
  auto anneal = [](double start, double end, double pct) {
    double cos_out = std::cos(kPi * pct) + 1.0;
    return end + (start - end) / 2.0 * cos_out;
  };
  return [=](int64_t step) {
    CHECK(step >= 0 && step <= total, "onecycle schedule at step ", step, " of ", total);
    const double t = static_cast<double>(step);
    double start_step = 0.0;
    for (int i = 0; i < 2; ++i) {
      const Phase& p = phases[i];
      if (t <= p.end_step || i == 1) {
        double pct = (t - start_step) / (p.end_step - start_step);
        return ScheduleValue{static_cast<float>(anneal(p.start_lr, p.end_lr, pct)),
                             static_cast<float>(anneal(p.start_momentum, p.end_momentum, pct))};
      }
      start_step = p.end_step;
    }
    return ScheduleValue{};  // not reached
  };
}

}  // namespace

const std::vector<ScheduleEntry>& schedule_registry() {
  static const std::vector<ScheduleEntry> table = {
      {"constant", "lr and momentum fixed", make_constant},
      {"cosine", "cosine annealing from lr to min_lr over total_steps (torch CosineAnnealingLR)", make_cosine},
      {"onecycle",
       "lr up from lr/25 to lr over pct_start of the steps, then down to lr/25/1e4; momentum 0.95 -> 0.85 -> 0.95 "
       "(torch OneCycleLR)",
       make_onecycle},
  };
  return table;
}

Schedule make_schedule(const ScheduleSpec& spec) {
  const ScheduleEntry* entry = nullptr;
  std::string known;
  for (const ScheduleEntry& e : schedule_registry()) {
    if (spec.name == e.name) entry = &e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  if (!entry) fail_input("optim.schedule: unknown schedule '", spec.name, "' (known: ", known, ")");
  if (!(spec.base_lr >= 0.0)) fail_input("optim.lr must be >= 0, got ", spec.base_lr);
  if (!(spec.base_momentum >= 0.0 && spec.base_momentum < 1.0))
    fail_input("optim.momentum must be in [0, 1), got ", spec.base_momentum);
  return entry->make(spec);
}

}  // namespace cvtrain::optim
