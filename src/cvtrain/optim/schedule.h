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
  // cycle_momentum false: the momentum stays at base_momentum (torch's cycle_momentum=False).
  bool cycle_momentum = true;
  double onecycle_base_momentum = 0.85;
  double onecycle_max_momentum = 0.95;
  // All counts are in optimizer steps (the trainer converts the config's epochs).
  double gamma = 0.1;               // step, multistep: factor per decay; exponential: factor per step
  int64_t step_size = 1;            // step: steps between decays
  std::vector<int64_t> milestones;  // multistep: increasing steps at which the lr is multiplied by gamma
  int64_t restart_period = 1;       // sgdr: T_0, steps of the first cycle
  int64_t restart_mult = 1;         // sgdr: T_mult
  double power = 1.0;               // polynomial
  // Linear warmup, multiplying any schedule: factor start + (1 - start) * step / warmup_steps until
  // warmup_steps (torch's LinearLR(start_factor, 1.0, warmup_steps) chained with the schedule).
  // invsqrt also uses warmup_steps as the step where its decay begins.
  int64_t warmup_steps = 0;
  double warmup_start_factor = 0.01;
};

using Schedule = std::function<ScheduleValue(int64_t step)>;

struct ScheduleEntry {
  std::string name;
  std::string description;
  std::function<Schedule(const ScheduleSpec&)> make;
  std::vector<std::string> keys;  // the config keys it reads beyond optim.lr and the warmup (a set one is refused elsewhere)
};

const std::vector<ScheduleEntry>& schedule_registry();

// Validates the spec (InputError naming the optim.* key) and returns the schedule, warmup included.
Schedule make_schedule(const ScheduleSpec& spec);

// The linear scaling rule (Goyal et al. 2017, sec. 2.1): lr * batch / base_batch for rule "linear",
// lr unchanged for "none" (InputError naming optim.scale_lr otherwise).
double scaled_lr(double lr, const std::string& rule, int64_t batch, int64_t base_batch);


}  // namespace cvtrain::optim
