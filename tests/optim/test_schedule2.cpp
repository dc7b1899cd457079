// The other schedules against torch.optim.lr_scheduler at every step of short runs, so every
// boundary (each decay, each SGDR restart, the end of linear and polynomial decay, the end of the
// warmup) is checked (tests/fixtures/schedule2.txt, record_optim.py); warmup composed with a
// schedule against torch's ChainedScheduler; the linear scaling rule; milestone parsing.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/optim/schedule.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

std::vector<double> spec_of(const std::string& c) {
  static const auto fx = load_fixture("schedule2");
  std::vector<float> f = fx.at(c + ".spec").to_vector();
  return {f.begin(), f.end()};
}

// A schedule's options and run, counted in steps (steps_per_epoch 1).
struct Spec {
  optim::ScheduleOptions o;
  optim::ScheduleRun run;
};
optim::Schedule make(const Spec& s) { return optim::make_schedule(s.o, s.run); }

void expect_matches(const std::string& c, const Spec& spec) {
  static const auto fx = load_fixture("schedule2");
  std::vector<float> lr = fx.at(c + ".lr").to_vector();
  optim::Schedule s = make(spec);
  for (size_t step = 0; step < lr.size(); ++step)
    EXPECT_NEAR(s(static_cast<int64_t>(step)).lr, lr[step], 1e-9 + 1e-6 * std::fabs(lr[step])) << c << " step " << step;
}

Spec named(const std::string& name, double lr) {
  Spec s;
  s.o.name = name;
  s.o.lr = lr;
  return s;
}

}  // namespace

TEST(Schedule2, Step) {
  auto s = named("step", 0.1);
  s.o.step_size = 7;
  s.o.gamma = 0.5;
  EXPECT_EQ(spec_of("step")[1], 7);
  expect_matches("step", s);
}

TEST(Schedule2, MultiStepWithAdjacentMilestones) {
  auto s = named("multistep", 0.2);
  s.o.milestones = {5, 12, 13};
  s.o.gamma = 0.3;
  EXPECT_EQ(spec_of("multistep")[3], 13);
  expect_matches("multistep", s);
}

TEST(Schedule2, Exponential) {
  auto s = named("exponential", 0.05);
  s.o.gamma = 0.9;
  expect_matches("exponential", s);
}

TEST(Schedule2, SgdrFixedCycles) {
  auto s = named("sgdr", 0.1);
  s.o.restart_period = 10;
  s.o.min_lr = 0.001;
  expect_matches("sgdr_mult1", s);
}

TEST(Schedule2, SgdrDoublingCycles) {
  auto s = named("sgdr", 0.1);
  s.o.restart_period = 5;
  s.o.restart_mult = 2;
  expect_matches("sgdr_mult2", s);
  optim::Schedule f = make(s);
  EXPECT_FLOAT_EQ(f(5).lr, 0.1f);   // first restart
  EXPECT_FLOAT_EQ(f(15).lr, 0.1f);  // second, after a cycle of 10
}

TEST(Schedule2, LinearDecayAndPast) {
  auto s = named("linear", 0.1);
  s.run.total_steps = 20;
  s.o.min_lr = 0.005;
  expect_matches("linear", s);
}

TEST(Schedule2, Polynomial) {
  auto s = named("polynomial", 0.1);
  s.run.total_steps = 20;
  s.o.power = 2.0;
  expect_matches("polynomial", s);
}

TEST(Schedule2, InverseSqrt) {
  auto s = named("invsqrt", 0.1);
  s.o.warmup_steps = 8;
  s.o.warmup_start_factor = 1.0;  // the fixture has no warmup ramp: only the decay point
  expect_matches("invsqrt", s);
}

TEST(Schedule2, WarmupChainedWithStep) {
  auto s = named("step", 0.1);
  s.o.warmup_steps = 5;
  s.o.warmup_start_factor = 0.1;
  s.o.step_size = 4;
  s.o.gamma = 0.5;
  expect_matches("warmup_step", s);
}

TEST(Schedule2, WarmupChainedWithExponential) {
  auto s = named("exponential", 0.1);
  s.o.warmup_steps = 6;
  s.o.warmup_start_factor = 0.25;
  s.o.gamma = 0.95;
  expect_matches("warmup_exponential", s);
}

TEST(Schedule2, WarmupComposesWithOneCycleMomentum) {
  auto s = named("onecycle", 0.1);
  s.run.total_steps = 100;
  s.o.pct_start = 0.3;
  auto plain = make(s);
  s.o.warmup_steps = 10;
  s.o.warmup_start_factor = 0.5;
  auto warm = make(s);
  EXPECT_FLOAT_EQ(warm(0).lr, plain(0).lr * 0.5f);
  EXPECT_EQ(warm(0).momentum, plain(0).momentum);
  EXPECT_EQ(warm(10).lr, plain(10).lr);
}

TEST(Schedule2, LinearScalingRule) {
  EXPECT_DOUBLE_EQ(optim::scaled_lr(0.1, "linear", 512, 256), 0.2);
  EXPECT_DOUBLE_EQ(optim::scaled_lr(0.1, "none", 512, 256), 0.1);
  EXPECT_THROW(optim::scaled_lr(0.1, "sqrt", 512, 256), InputError);
}

TEST(Schedule2, MilestonesAndErrors) {
  auto decreasing = named("multistep", 0.1);  // the config's list is checked there (tests/train/test_config.cpp)
  decreasing.o.milestones = {30, 20};
  EXPECT_THROW(make(decreasing), InputError);
  EXPECT_THROW(make(named("multistep", 0.1)), InputError);  // no milestones
  auto s = named("sgdr", 0.1);
  s.o.restart_period = 0;
  EXPECT_THROW(make(s), InputError);
  s = named("step", 0.1);
  s.o.warmup_steps = 3;
  s.o.warmup_start_factor = 0.0;
  EXPECT_THROW(make(s), InputError);
}
