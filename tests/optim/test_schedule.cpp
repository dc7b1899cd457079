// Schedules against torch.optim.lr_scheduler: OneCycleLR (lr and momentum) and CosineAnnealingLR at
// every step of runs recorded in tests/fixtures/schedule.txt (record_optim.py), phase boundaries
// included, and the registry's errors.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/optim/schedule.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

const std::map<std::string, Tensor>& fixture() {
  static const auto fx = load_fixture("schedule");
  return fx;
}

// A schedule's options and run, counted in steps (steps_per_epoch 1).
struct Spec {
  optim::ScheduleOptions o;
  optim::ScheduleRun run;
};
optim::Schedule make(const Spec& s) { return optim::make_schedule(s.o, s.run); }

// Specs are written here in double, as Python holds them (the fixture's f32 copy is only checked).
void expect_matches(const std::string& c, const Spec& spec, bool with_momentum) {
  std::vector<float> recorded = fixture().at(c + ".spec").to_vector();
  EXPECT_FLOAT_EQ(recorded[0], float(spec.o.lr)) << c;
  EXPECT_EQ(recorded[1], float(spec.run.total_steps)) << c;
  std::vector<float> lr = fixture().at(c + ".lr").to_vector();
  std::vector<float> mom = with_momentum ? fixture().at(c + ".momentum").to_vector() : std::vector<float>();
  optim::Schedule s = make(spec);
  for (size_t step = 0; step < lr.size(); ++step) {
    optim::ScheduleValue v = s(static_cast<int64_t>(step));
    EXPECT_NEAR(v.lr, lr[step], 1e-9 + 1e-6 * std::fabs(lr[step])) << c << " step " << step;
    if (with_momentum) {
      EXPECT_NEAR(v.momentum, mom[step], 1e-6) << c << " step " << step;
    }
  }
}

Spec onecycle(double max_lr, int64_t total, double pct) {
  Spec s;
  s.o.name = "onecycle";
  s.o.lr = max_lr;
  s.run.total_steps = total;
  s.o.pct_start = pct;
  return s;
}

Spec cosine(double lr, int64_t t_max, double eta_min) {
  Spec s;
  s.o.name = "cosine";
  s.o.lr = lr;
  s.run.total_steps = t_max;
  s.o.min_lr = eta_min;
  return s;
}

}  // namespace

TEST(Schedule, OneCycleTorchDefaults) { expect_matches("onecycle_a", onecycle(0.1, 100, 0.3), true); }
TEST(Schedule, OneCycleAnchorRecipe) { expect_matches("onecycle_b", onecycle(0.1, 100, 0.15), true); }
TEST(Schedule, OneCycleFractionalBoundary) { expect_matches("onecycle_c", onecycle(0.05, 37, 0.25), true); }
TEST(Schedule, CosineToZero) { expect_matches("cosine_a", cosine(0.1, 100, 0.0), false); }
TEST(Schedule, CosineToMinLrAndPast) { expect_matches("cosine_b", cosine(0.05, 40, 0.001), false); }

TEST(Schedule, OneCycleBoundaries) {
  // pct_start 0.15 of 100 steps: phase 1 ends at float(0.15*100)-1 = 14.000000000000002
  optim::Schedule s = make(onecycle(0.1, 100, 0.15));
  EXPECT_FLOAT_EQ(s(0).lr, 0.1f / 25);
  EXPECT_FLOAT_EQ(s(0).momentum, 0.95f);
  EXPECT_NEAR(s(14).lr, 0.1f, 1e-7);  // the peak, still in phase 1
  EXPECT_NEAR(s(14).momentum, 0.85f, 1e-7);
  EXPECT_LT(s(15).lr, s(14).lr);
  EXPECT_FLOAT_EQ(s(99).lr, 0.1f / 25 / 1e4f);  // min_lr at total_steps - 1
  EXPECT_FLOAT_EQ(s(99).momentum, 0.95f);
  EXPECT_THROW(s(101), Error);
}

TEST(Schedule, ConstantIgnoresTheStep) {
  Spec spec;
  spec.o.name = "constant";
  spec.o.lr = 0.2;
  spec.run.momentum = 0.8;
  optim::Schedule s = make(spec);
  EXPECT_EQ(s(0).lr, 0.2f);
  EXPECT_EQ(s(123456).momentum, 0.8f);
}

TEST(Schedule, RegistryAndErrors) {
  std::vector<std::string> names;
  for (const auto& e : optim::schedule_registry()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"constant", "cosine", "onecycle", "step", "multistep", "exponential",
                                             "sgdr", "linear", "invsqrt", "polynomial", "plateau"}));
  Spec spec;
  spec.o.name = "stair";
  try {
    make(spec);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "optim.schedule: unknown schedule 'stair' (known: constant, cosine, onecycle, step, multistep, "
                 "exponential, sgdr, linear, invsqrt, polynomial, plateau)");
  }
  EXPECT_THROW(make(onecycle(0.1, 0, 0.3)), InputError);
  EXPECT_THROW(make(onecycle(0.1, 100, 1.5)), InputError);
  EXPECT_THROW(make(cosine(0.1, 100, 0.5)), InputError);
}
