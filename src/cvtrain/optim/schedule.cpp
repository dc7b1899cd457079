// The schedules, transcribed from torch/optim/lr_scheduler.py (1.13), and their table.
#include "cvtrain/optim/schedule.h"

#include <cmath>
#include <numbers>
#include <algorithm>
#include <string>

#include "cvtrain/base/error.h"

namespace cvtrain::optim {

namespace {

constexpr double kPi = std::numbers::pi;

// torch's OneCycleLR defaults, not keys: initial_lr = max_lr / 25, min_lr = initial_lr / 1e4.
constexpr double kDivFactor = 25.0, kFinalDivFactor = 1e4;

void check_total_steps(const ScheduleSteps& s) {
  if (s.total_steps <= 0)
    fail_input("optim.schedule: ", s.o.name, " needs a positive number of steps, got ", s.total_steps);
}

void check_min_lr(const ScheduleSteps& s) {
  if (!(s.o.min_lr <= s.o.lr)) fail_input("optim.min_lr must be in [0, lr], got ", s.o.min_lr, " with lr ", s.o.lr);
}

Schedule make_constant(const ScheduleSteps& s) {
  ScheduleValue v{static_cast<float>(s.o.lr), static_cast<float>(s.momentum)};
  return [v](int64_t step) {
    CHECK(step >= 0, "constant schedule at step ", step);
    return v;
  };
}

// CosineAnnealingLR's closed form (its _get_closed_form_lr; step() computes the same values by a
// recurrence): eta_t = eta_min + (eta_max - eta_min) * (1 + cos(pi * t / T_max)) / 2
// (Loshchilov & Hutter 2017, eq. 5, without restarts). Past T_max it rises again, as torch's does.
Schedule make_cosine(const ScheduleSteps& s) {
  check_total_steps(s);
  check_min_lr(s);
  const double eta_max = s.o.lr, eta_min = s.o.min_lr, t_max = static_cast<double>(s.total_steps);
  const float momentum = static_cast<float>(s.momentum);
  return [=](int64_t step) {
    CHECK(step >= 0, "cosine schedule at step ", step);
    double lr = eta_min + (eta_max - eta_min) * (1.0 + std::cos(kPi * static_cast<double>(step) / t_max)) / 2.0;
    return ScheduleValue{static_cast<float>(lr), momentum};
  };
}

// OneCycleLR (Smith & Topin 2018) as torch 1.13 computes it with anneal_strategy='cos',
// three_phase=False: phase 1 raises the lr from initial_lr to max_lr and lowers the momentum from
// max to base; phase 2 anneals the lr to min_lr and raises the momentum back. With cycle_momentum
// false the momentum stays at the optimizer's own (s.momentum).
// NOTE: the phase boundary is float(pct_start * total_steps) - 1, not an integer: with pct_start
// 0.15 and 100 steps it is 14.000000000000002, so step 14 is still in phase 1.
Schedule make_onecycle(const ScheduleSteps& s) {
  check_total_steps(s);
  struct Phase {
    double end_step, start_lr, end_lr, start_momentum, end_momentum;
  };
  const double max_lr = s.o.lr;
  const double initial_lr = max_lr / kDivFactor;
  const double min_lr = initial_lr / kFinalDivFactor;
  const double m_max = s.o.cycle_momentum ? s.o.max_momentum : s.momentum;
  const double m_base = s.o.cycle_momentum ? s.o.base_momentum : s.momentum;
  const int64_t total = s.total_steps;
  const Phase phases[2] = {
      {s.o.pct_start * static_cast<double>(total) - 1.0, initial_lr, max_lr, m_max, m_base},
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

// The schedules below keep the momentum fixed at base_momentum and use torch's closed forms.
ScheduleValue at(double lr, const ScheduleSteps& s) {
  return {static_cast<float>(lr), static_cast<float>(s.momentum)};
}

// StepLR: eta_t = eta_0 gamma^floor(t / step_size)
Schedule make_step(const ScheduleSteps& spec) {
  return [=](int64_t step) {
    CHECK(step >= 0, "step schedule at step ", step);
    return at(spec.o.lr * std::pow(spec.o.gamma, static_cast<double>(step / spec.o.step_size)), spec);
  };
}

// MultiStepLR: eta_t = eta_0 gamma^(number of milestones <= t)
Schedule make_multistep(const ScheduleSteps& spec) {
  return [=](int64_t step) {
    CHECK(step >= 0, "multistep schedule at step ", step);
    int64_t passed = 0;
    for (int64_t m : spec.o.milestones) passed += m <= step;
    return at(spec.o.lr * std::pow(spec.o.gamma, static_cast<double>(passed)), spec);
  };
}

// ExponentialLR: eta_t = eta_0 gamma^t
Schedule make_exponential(const ScheduleSteps& spec) {
  return [=](int64_t step) {
    CHECK(step >= 0, "exponential schedule at step ", step);
    return at(spec.o.lr * std::pow(spec.o.gamma, static_cast<double>(step)), spec);
  };
}

// SGDR, CosineAnnealingWarmRestarts (Loshchilov & Hutter 2017, eq. 5): within cycle i of T_i steps
// (T_0, T_0 T_mult, ...), eta_t = eta_min + (eta_0 - eta_min)(1 + cos(pi T_cur / T_i)) / 2.
Schedule make_sgdr(const ScheduleSteps& spec) {
  check_min_lr(spec);
  return [=](int64_t step) {
    CHECK(step >= 0, "sgdr schedule at step ", step);
    int64_t t_cur = step, t_i = spec.o.restart_period;
    while (t_cur >= t_i) t_cur -= t_i, t_i *= spec.o.restart_mult;  // the same integer walk as torch's step()
    const double cos_term = 1.0 + std::cos(kPi * static_cast<double>(t_cur) / static_cast<double>(t_i));
    return at(spec.o.min_lr + (spec.o.lr - spec.o.min_lr) * cos_term / 2.0, spec);
  };
}

// Linear decay, LinearLR(start_factor=1, end_factor=min_lr/lr, total_iters=total_steps):
// eta_t = eta_0 + (eta_min - eta_0) min(t, T) / T
Schedule make_linear(const ScheduleSteps& spec) {
  check_total_steps(spec);
  check_min_lr(spec);
  return [=](int64_t step) {
    CHECK(step >= 0, "linear schedule at step ", step);
    const double frac = static_cast<double>(std::min(step, spec.total_steps)) / static_cast<double>(spec.total_steps);
    return at(spec.o.lr + (spec.o.min_lr - spec.o.lr) * frac, spec);
  };
}

// Inverse square root (Vaswani et al. 2017, eq. 3, without its warmup ramp, which warmup_steps adds):
// eta_t = eta_0 sqrt(w / max(t, w)), w = max(warmup_steps, 1).
Schedule make_invsqrt(const ScheduleSteps& spec) {
  const double w = static_cast<double>(std::max<int64_t>(spec.o.warmup_steps, 1));
  return [=](int64_t step) {
    CHECK(step >= 0, "invsqrt schedule at step ", step);
    return at(spec.o.lr * std::sqrt(w / std::max(static_cast<double>(step), w)), spec);
  };
}

// PolynomialLR: eta_t = (eta_0 - eta_min)(1 - min(t, T)/T)^power + eta_min
Schedule make_polynomial(const ScheduleSteps& spec) {
  check_total_steps(spec);
  check_min_lr(spec);
  return [=](int64_t step) {
    CHECK(step >= 0, "polynomial schedule at step ", step);
    const double frac = static_cast<double>(std::min(step, spec.total_steps)) / static_cast<double>(spec.total_steps);
    return at((spec.o.lr - spec.o.min_lr) * std::pow(1.0 - frac, spec.o.power) + spec.o.min_lr, spec);
  };
}

}  // namespace

const std::vector<ScheduleEntry>& schedule_registry() {
  static const std::vector<ScheduleEntry> table = {
      {"constant", "lr and momentum fixed", make_constant, {}},
      {"cosine", "cosine annealing from lr to min_lr over total_steps (torch CosineAnnealingLR)", make_cosine,
       {"optim.min_lr"}},
      {"onecycle",
       "lr up from lr/25 to lr over pct_start of the steps, then down to lr/25/1e4; momentum max_momentum -> "
       "base_momentum -> max_momentum unless cycle_momentum is false (torch OneCycleLR)",
       make_onecycle, {"optim.pct_start", "optim.cycle_momentum", "optim.base_momentum", "optim.max_momentum"}},
      {"step", "lr * gamma^floor(epoch / step_size) (torch StepLR)", make_step, {"optim.gamma", "optim.step_size"}},
      {"multistep", "lr * gamma at each milestone epoch (torch MultiStepLR)", make_multistep,
       {"optim.gamma", "optim.milestones"}},
      {"exponential", "lr * gamma per epoch, applied smoothly per step (torch ExponentialLR)", make_exponential,
       {"optim.gamma"}},
      {"sgdr", "cosine from lr to min_lr, restarting after restart_period epochs, each cycle restart_mult longer "
               "(torch CosineAnnealingWarmRestarts)", make_sgdr,
       {"optim.min_lr", "optim.restart_period", "optim.restart_mult"}},
      {"linear", "linear decay from lr to min_lr over the run (torch LinearLR)", make_linear, {"optim.min_lr"}},
      {"invsqrt", "lr * sqrt(warmup / step) after the warmup (Vaswani et al. 2017)", make_invsqrt, {}},
      {"polynomial", "(lr - min_lr) (1 - step/total)^power + min_lr (torch PolynomialLR)", make_polynomial,
       {"optim.min_lr", "optim.power"}},
      {"plateau", "lr until the validation loss stops improving, then times plateau_factor, not below min_lr "
                  "(torch ReduceLROnPlateau; it needs a validation split)", make_constant,
       {"optim.min_lr", "optim.plateau_factor", "optim.plateau_patience", "optim.plateau_threshold"}},
  };
  return table;
}

void check_options(const ScheduleOptions& o) {
  auto need = [](bool ok, const char* key, const std::string& what) {
    if (!ok) fail_input(key, ": ", what);
  };
  auto got = [](auto v) { return ", got " + std::to_string(v); };
  need(o.lr > 0, "optim.lr", "must be > 0" + got(o.lr));
  need(o.pct_start > 0 && o.pct_start < 1, "optim.pct_start", "must be in (0, 1)" + got(o.pct_start));
  need(o.base_momentum >= 0 && o.base_momentum <= o.max_momentum && o.max_momentum < 1, "optim.base_momentum",
       "and optim.max_momentum must satisfy 0 <= base_momentum <= max_momentum < 1");
  need(o.min_lr >= 0, "optim.min_lr", "must be >= 0" + got(o.min_lr));
  need(o.gamma > 0 && (o.name != "exponential" || o.gamma <= 1), "optim.gamma",
       (o.name == "exponential" ? "must be in (0, 1]" : "must be > 0") + got(o.gamma));
  need(o.step_size >= 1, "optim.step_size", "must be >= 1" + got(o.step_size));
  need(o.plateau_factor > 0 && o.plateau_factor < 1, "optim.plateau_factor", "must be in (0, 1)" + got(o.plateau_factor));
  need(o.plateau_patience >= 0 && o.plateau_patience <= 1000000, "optim.plateau_patience",
       "must be in [0, 1000000]" + got(o.plateau_patience));
  need(o.plateau_threshold >= 0 && o.plateau_threshold < 1, "optim.plateau_threshold",
       "must be in [0, 1)" + got(o.plateau_threshold));
  need(o.name != "multistep" || !o.milestones.empty(), "optim.milestones", "multistep needs at least one milestone");
  for (size_t i = 0; i < o.milestones.size(); ++i)
    need(o.milestones[i] > 0 && (i == 0 || o.milestones[i] > o.milestones[i - 1]), "optim.milestones",
         "must be increasing positive epochs");
  need(o.restart_period >= 1, "optim.restart_period", "must be >= 1" + got(o.restart_period));
  need(o.restart_mult >= 1, "optim.restart_mult", "must be >= 1" + got(o.restart_mult));
  need(o.power > 0, "optim.power", "must be > 0" + got(o.power));
  need(o.warmup_steps >= 0 && o.warmup_epochs >= 0, "optim.warmup_steps", "and optim.warmup_epochs must be >= 0");
  need(o.warmup_start_factor > 0 && o.warmup_start_factor <= 1, "optim.warmup_start_factor",
       "must be in (0, 1]" + got(o.warmup_start_factor));
  index_of_name(scale_rule_names(), o.scale_lr, "optim.scale_lr", "rule");
  need(o.base_batch_size >= 1, "optim.base_batch_size", "must be >= 1" + got(o.base_batch_size));
}

ScheduleSteps in_steps(const ScheduleOptions& o, const ScheduleRun& run) {
  const int64_t spe = run.steps_per_epoch;
  ScheduleSteps s{o, run.momentum, run.total_steps};
  s.o.lr = scaled_lr(o.lr, o.scale_lr, run.global_batch, o.base_batch_size);
  s.o.scale_lr = "none";
  if (o.name == "exponential") s.o.gamma = std::pow(o.gamma, 1.0 / static_cast<double>(spe));  // per epoch -> per step
  s.o.step_size = o.step_size * spe;
  for (int64_t& m : s.o.milestones) m *= spe;
  s.o.restart_period = o.restart_period * spe;
  s.o.warmup_steps = o.warmup_steps > 0 ? o.warmup_steps : o.warmup_epochs * spe;
  s.o.warmup_epochs = 0;
  return s;
}

Schedule make_schedule(const ScheduleOptions& options, const ScheduleRun& run) {
  const ScheduleEntry* entry = nullptr;
  std::string known;
  for (const ScheduleEntry& e : schedule_registry()) {
    if (options.name == e.name) entry = &e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  if (!entry) fail_input("optim.schedule: unknown schedule '", options.name, "' (known: ", known, ")");
  check_options(options);
  if (run.steps_per_epoch < 1) fail_input("optim.schedule: ", run.steps_per_epoch, " steps per epoch");
  if (!(run.momentum >= 0.0 && run.momentum < 1.0)) fail_input("optim.momentum must be in [0, 1), got ", run.momentum);
  const ScheduleSteps s = in_steps(options, run);
  Schedule main = entry->make(s);
  if (s.o.warmup_steps == 0) return main;
  // LinearLR's closed form: factor_t = s + (1 - s) min(t, W) / W, multiplying the schedule's lr.
  const double s0 = s.o.warmup_start_factor, w = static_cast<double>(s.o.warmup_steps);
  const int64_t warmup = s.o.warmup_steps;
  return [main, s0, w, warmup](int64_t step) {
    ScheduleValue v = main(step);
    if (step < warmup) v.lr = static_cast<float>(static_cast<double>(v.lr) * (s0 + (1.0 - s0) * static_cast<double>(step) / w));
    return v;
  };
}

const std::vector<std::string>& scale_rule_names() {
  static const std::vector<std::string> names = {"none", "linear"};
  return names;
}

double scaled_lr(double lr, const std::string& rule, int64_t batch, int64_t base_batch) {
  if (index_of_name(scale_rule_names(), rule, "optim.scale_lr", "rule") == 0) return lr;
  if (base_batch <= 0 || batch <= 0)
    fail_input("optim.base_batch_size: scaling needs positive batch sizes, got ", batch, " and ", base_batch);
  return lr * static_cast<double>(batch) / static_cast<double>(base_batch);
}


}  // namespace cvtrain::optim
