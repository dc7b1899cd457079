// Learning-rate (and momentum) schedules as pure functions of the optimizer step, with one visible
// table of them. Values match torch.optim.lr_scheduler after `step` calls of scheduler.step()
// (computed in double as Python does, then rounded to float). Not stateful: resuming needs only the step.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cvtrain::optim {

struct ScheduleValue {
  float lr;
  float momentum;
};

struct ScheduleSpec {
  std::string name = "constant";
  double base_lr = 0.1;        // constant, cosine: the starting lr; onecycle: max_lr
  double base_momentum = 0.9;  // constant, cosine: the momentum at every step (onecycle cycles its own)
  int64_t total_steps = 0;     // cosine: T_max; onecycle: total_steps
  double pct_start = 0.3;      // onecycle: fraction of the steps spent raising the lr
  double min_lr = 0.0;         // cosine: eta_min
  // onecycle, torch's defaults: initial_lr = max_lr/div_factor, min_lr = initial_lr/final_div_factor,
  // momentum from onecycle_max_momentum down to onecycle_base_momentum and back.
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  double onecycle_base_momentum = 0.85;
  double onecycle_max_momentum = 0.95;
};

using Schedule = std::function<ScheduleValue(int64_t step)>;

struct ScheduleEntry {
  std::string name;
  std::string description;
  std::function<Schedule(const ScheduleSpec&)> make;
};

const std::vector<ScheduleEntry>& schedule_registry();

// Validates the spec (InputError naming the optim.* key) and returns the schedule.
Schedule make_schedule(const ScheduleSpec& spec);

}  // namespace cvtrain::optim
