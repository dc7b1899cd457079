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

// The optim.* keys of the learning-rate schedule, with the program's defaults (their only defaults;
// train/config.cpp documents each key). Counts are in epochs; make_schedule turns them into optimizer
// steps with the run's steps per epoch (1: they count steps, as in tests against torch).
struct ScheduleOptions {
  std::string name = "onecycle";
  double lr = 0.1;          // the peak lr (onecycle: max_lr), before scale_lr
  double pct_start = 0.15;  // onecycle: fraction of the steps spent raising the lr
  // onecycle: the momentum (or beta1) cycles from max_momentum down to base_momentum and back
  // (torch's cycle_momentum); false keeps the optimizer's own.
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double min_lr = 0.0;              // cosine, sgdr, linear, polynomial: the lowest lr (eta_min)
  double gamma = 0.1;               // step, multistep: factor per decay; exponential: factor per epoch
  int64_t step_size = 1;            // step: epochs between decays
  std::vector<int64_t> milestones;  // multistep: increasing epochs at which the lr is multiplied by gamma
  int64_t restart_period = 1;       // sgdr: T_0, epochs of the first cycle
  int64_t restart_mult = 1;         // sgdr: T_mult
  double power = 1.0;               // polynomial
  // plateau (ReduceLROnPlateau on the validation loss, plateau.h): the lr times plateau_factor after
  // more than plateau_patience evaluations without a relative improvement of plateau_threshold
  double plateau_factor = 0.1;
  int64_t plateau_patience = 10;
  double plateau_threshold = 1e-4;
  // Linear warmup, multiplying any schedule: factor start + (1 - start) * step / W until step W
  // (torch's LinearLR(start_factor, 1.0, W) chained with the schedule), W = warmup_steps, or
  // warmup_epochs when warmup_steps is 0. invsqrt also uses W as the step where its decay begins.
  int64_t warmup_steps = 0;
  int64_t warmup_epochs = 0;
  double warmup_start_factor = 0.01;
  // The linear scaling rule (Goyal et al. 2017, sec. 2.1): "linear" multiplies lr by
  // global_batch / base_batch_size; "none" keeps it.
  std::string scale_lr = "none";
  int64_t base_batch_size = 256;
};

// The range of every field (InputError naming its optim.* key); make_schedule checks it too.
void check_options(const ScheduleOptions& o);

// What the run adds to the options.
struct ScheduleRun {
  int64_t total_steps = 0;      // optimizer steps of the run
  int64_t steps_per_epoch = 1;  // turns the options' epochs into steps
  double momentum = 0.0;        // the optimizer's fixed momentum (or adam's beta1), kept when not cycling
  int64_t global_batch = 0;     // images per optimizer step, for scale_lr
};

// The options in optimizer steps, as the schedules read them: counts in steps, the lr scaled, the
// warmup in warmup_steps, exponential's gamma per step.
struct ScheduleSteps {
  ScheduleOptions o;
  double momentum;
  int64_t total_steps;
};
ScheduleSteps in_steps(const ScheduleOptions& o, const ScheduleRun& run);

using Schedule = std::function<ScheduleValue(int64_t step)>;

struct ScheduleEntry {
  std::string name;
  std::string description;
  std::function<Schedule(const ScheduleSteps&)> make;
  std::vector<std::string> keys;  // the config keys it reads beyond optim.lr and the warmup (a set one is refused elsewhere)
};

const std::vector<ScheduleEntry>& schedule_registry();

// Checks the options (InputError naming the optim.* key) and returns the schedule, warmup included.
Schedule make_schedule(const ScheduleOptions& o, const ScheduleRun& run);

// The values of optim.scale_lr.
const std::vector<std::string>& scale_rule_names();

// The linear scaling rule: lr * batch / base_batch for rule "linear", lr unchanged for "none"
// (InputError naming optim.scale_lr otherwise).
double scaled_lr(double lr, const std::string& rule, int64_t batch, int64_t base_batch);


}  // namespace cvtrain::optim
