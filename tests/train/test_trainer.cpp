// The training loop's options on a small synthetic set with the MLP: accumulation of two batches
// equals one batch twice the size; clipping by norm and by value bound the update; evaluation every
// N epochs; EMA evaluated beside the raw weights; early stopping; the every-N-steps hook; a
// non-finite loss stops the run (or is skipped when allowed); schedule_run and in_steps convert epochs to steps.
#include <cmath>

#include "common/testing.h"
#include "train/trainer_setup.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/trainer.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

const TrainerData& data() { return trainer_data(); }

RunConfig base_config() {
  RunConfig c = trainer_config();
  c.optim.momentum = 0.0;
  c.optim.nesterov = false;
  return c;
}

std::shared_ptr<nn::Module> model_for(Rng& rng) { return trainer_model(rng); }

std::vector<float> flat_weights(nn::Module& m) {
  std::vector<float> out;
  for (auto& [name, t] : m.state_dict()) {
    std::vector<float> v = t.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Runs `cfg` from the same seed; returns the weights before and after.
// `val`: a validation split, which early stopping needs.
std::pair<std::vector<float>, std::vector<float>> run(const RunConfig& cfg, FitResult* result = nullptr,
                                                      TrainHooks hooks = {}, const Dataset* val = nullptr) {
  Context ctx(7, 2);
  auto model = model_for(ctx.rng);
  auto before = flat_weights(*model);
  FitResult r = fit(ctx, *model, cfg, data().train, val, data().test, data().norm, hooks);
  if (result) *result = r;
  return {before, flat_weights(*model)};
}

double norm_of_difference(const std::vector<float>& a, const std::vector<float>& b, double* max_abs = nullptr) {
  double s = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(b[i]) - a[i];
    s += d * d, m = std::max(m, std::fabs(d));
  }
  if (max_abs) *max_abs = m;
  return std::sqrt(s);
}

}  // namespace

TEST(Trainer, AccumulationEqualsALargerBatch) {
  RunConfig big = base_config();
  RunConfig small = base_config();
  small.train.batch_size = 32;
  small.train.accumulate_steps = 2;
  auto [b0, b1] = run(big);
  auto [s0, s1] = run(small);
  ASSERT_EQ(b0, s0);
  EXPECT_GT(norm_of_difference(b0, b1), 1e-3);  // it trained
  double max_abs = 0;
  norm_of_difference(b1, s1, &max_abs);
  EXPECT_LT(max_abs, 1e-5);
  // and differs from no accumulation at batch 32
  small.train.accumulate_steps = 1;
  auto [n0, n1] = run(small);
  norm_of_difference(b1, n1, &max_abs);
  EXPECT_GT(max_abs, 1e-4);
}

TEST(Trainer, ClipByNormBoundsTheStep) {
  RunConfig c = base_config();
  c.data.limit_train = 0;
  c.train.batch_size = 256;  // one step
  c.schedule.lr = 1.0;
  c.train.clip_grad_norm = 1e-3;
  auto [w0, w1] = run(c);
  EXPECT_NEAR(norm_of_difference(w0, w1), 1e-3, 2e-5);  // plain SGD, lr 1: the step is the clipped gradient
}

TEST(Trainer, ClipByValueBoundsEachElement) {
  RunConfig c = base_config();
  c.train.batch_size = 256;
  c.schedule.lr = 1.0;
  c.train.clip_grad_value = 1e-4;
  auto [w0, w1] = run(c);
  double max_abs = 0;
  norm_of_difference(w0, w1, &max_abs);
  EXPECT_NEAR(max_abs, 1e-4, 1e-7);  // f32 rounding of the weights
}

TEST(Trainer, EvalEveryAndEma) {
  RunConfig c = base_config();
  c.train.epochs = 3;
  c.train.eval_every = 2;
  c.train.ema_decay = 0.5;
  FitResult r;
  run(c, &r);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_FALSE(r.history[0].evaluated);
  EXPECT_TRUE(r.history[1].evaluated);
  EXPECT_TRUE(r.history[2].evaluated);  // the last epoch always is
  EXPECT_TRUE(r.history[2].has_ema);
  EXPECT_GT(r.history[2].ema_test_acc, 0.5);
  EXPECT_NE(r.history[2].ema_test_loss, r.history[2].test_loss);
  EXPECT_EQ(r.history[2].step, 12);
}

TEST(Trainer, EarlyStoppingAndHook) {
  RunConfig c = base_config();
  c.train.epochs = 5;
  c.train.early_stop_patience = 1;
  c.train.early_stop_min_delta = 1.0;  // nothing counts as better after the first evaluation
  FitResult r;
  TrainHooks hooks;
  std::vector<int64_t> calls;
  hooks.every_steps = 3;
  hooks.on_every_steps = [&](int64_t step, nn::Module&, const nn::ParameterArena& arena) {
    calls.push_back(step);
    EXPECT_GT(arena.size(), 0);
  };
  EXPECT_THROW(run(c, &r, hooks), InputError);  // early stopping without a validation split: refused
  calls.clear();
  run(c, &r, hooks, &data().test);
  EXPECT_TRUE(r.early_stopped);
  EXPECT_EQ(r.history.size(), 2u);
  EXPECT_EQ(calls, (std::vector<int64_t>{3, 6}));
}

TEST(Trainer, NonFiniteLossStopsOrIsSkipped) {
  RunConfig c = base_config();
  c.schedule.lr = 1e30;
  c.train.epochs = 2;
  try {
    run(c);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("the loss is"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No checkpoint was written yet"), std::string::npos) << e.what();
  }
  c.train.skip_nonfinite = 1000;
  FitResult r;
  EXPECT_NO_THROW(run(c, &r));
}

TEST(Trainer, AdamTrains) {
  RunConfig c = base_config();
  c.optim.name = "adam";
  c.schedule.lr = 1e-3;
  c.train.epochs = 2;
  FitResult r;
  run(c, &r);
  EXPECT_GT(r.history.back().test_acc, 0.8);
}

TEST(Trainer, ScheduleSpecCountsEpochsInSteps) {
  RunConfig c = base_config();
  c.train.epochs = 10;
  c.train.accumulate_steps = 2;
  c.schedule.name = "multistep";
  c.schedule.milestones = {3, 6};
  c.schedule.warmup_epochs = 1;
  c.schedule.scale_lr = "linear";
  c.schedule.base_batch_size = 256;
  c.train.batch_size = 64;
  optim::ScheduleSteps s = optim::in_steps(c.schedule, schedule_run(c, 9));  // 9 batches: 5 optimizer steps per epoch
  EXPECT_EQ(optimizer_steps_per_epoch(c, 9), 5);
  EXPECT_EQ(s.total_steps, 50);
  EXPECT_EQ(s.o.milestones, (std::vector<int64_t>{15, 30}));
  EXPECT_EQ(s.o.warmup_steps, 5);
  EXPECT_DOUBLE_EQ(s.o.lr, 0.05 * 128 / 256);
  c.schedule.name = "exponential";
  c.schedule.gamma = 0.5;
  s = optim::in_steps(c.schedule, schedule_run(c, 9));
  EXPECT_NEAR(std::pow(s.o.gamma, 5), 0.5, 1e-12);  // per epoch
}

// The momentum a schedule starts from (and keeps, without cycling) is the one the optimizer reads:
// beta1 for the optimizers whose registry row reads optim.beta1 (adam, adamw, lamb), else optim.momentum.
TEST(Trainer, ScheduleMomentumIsTheOptimizersOwn) {
  RunConfig c = base_config();
  c.optim.momentum = 0.7;
  c.optim.beta1 = 0.6;
  for (const auto& [name, want] : std::vector<std::pair<std::string, double>>{
           {"sgd", 0.7}, {"rmsprop", 0.7}, {"lars", 0.7}, {"adam", 0.6}, {"adamw", 0.6}, {"lamb", 0.6}}) {
    c.optim.name = name;
    EXPECT_DOUBLE_EQ(schedule_run(c, 9).momentum, want) << name;
  }
}
