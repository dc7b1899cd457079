// The trainer's later options: train.max_steps (a run of N optimizer steps equals the same steps
// counted in epochs, and a partial last epoch is evaluated); the EMA averages batch-norm running
// statistics beside the weights (ModelEma); a run resumed from an earlier checkpoint in the same
// folder leaves each TensorBoard (tag, step) exactly once across its event files; fit trains with
// parts built from the config or given by the caller; the default step-log interval follows the run's
// length; model.freeze_epochs trains the head alone, then every layer.
#include <filesystem>
#include <map>
#include <set>

#include "common/testing.h"
#include "train/trainer_setup.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/tensorboard.h"
#include "cvtrain/train/trainer.h"
#include "cvtrain/train/transfer.h"

using namespace cvtrain;
using namespace cvtrain::testing;
namespace fs = std::filesystem;

namespace {

const TrainerData& data() { return trainer_data(); }
RunConfig base_config() { return trainer_config(); }
std::shared_ptr<nn::Module> model_for(Rng& rng, const std::string& name = "mlp") { return trainer_model(rng, name); }

std::vector<float> flat_state(nn::Module& m) {
  std::vector<float> out;
  for (auto& [name, t] : m.state_dict()) {
    if (t.dtype() != DType::f32) continue;
    std::vector<float> v = t.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

std::vector<float> train_weights(const RunConfig& cfg, FitResult* result = nullptr) {
  Context ctx(7, 2);
  auto model = model_for(ctx.rng);
  FitResult r = fit(ctx, *model, cfg, data().train, nullptr, data().test, data().norm, {});
  if (result) *result = r;
  return flat_state(*model);
}

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("cvtrain_test_steps_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// (tag, step) -> how many times it appears over every event file of `dir`.
std::map<std::pair<std::string, int64_t>, int> scalar_counts(const std::string& dir) {
  std::map<std::pair<std::string, int64_t>, int> counts;
  for (const auto& e : fs::directory_iterator(dir))
    for (const EventRecord& r : read_events(e.path().string()))
      for (const auto& [tag, v] : r.scalars) ++counts[{tag, r.step}];
  return counts;
}

}  // namespace

TEST(TrainerSteps, MaxStepsEqualsTheSameStepsInEpochs) {
  RunConfig by_epochs = base_config();
  by_epochs.train.epochs = 2;
  RunConfig by_steps = base_config();
  by_steps.train.epochs = 7;  // 28 steps: max_steps ends the run first
  by_steps.train.max_steps = 8;
  EXPECT_EQ(train_weights(by_epochs), train_weights(by_steps));
  by_steps.train.max_steps = 6;  // 1.5 epochs
  FitResult r;
  const auto w6 = train_weights(by_steps, &r);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[1].step, 6);
  EXPECT_TRUE(r.history[1].evaluated);  // the partial last epoch is evaluated
  EXPECT_NE(w6, train_weights(by_epochs));
  EXPECT_EQ(planned_epochs(by_steps, 4), 2);
  EXPECT_EQ(schedule_run(by_steps, 4).total_steps, 6);
  by_steps.train.max_steps = 0;
  EXPECT_EQ(planned_epochs(by_steps, 4), 7);
}

TEST(TrainerSteps, EpochsEndTheRunBeforeALargerMaxSteps) {
  RunConfig by_epochs = base_config();
  by_epochs.train.epochs = 2;  // 8 steps
  RunConfig capped = by_epochs;
  capped.train.max_steps = 100;  // not reached: train.epochs ends the run, and the schedule spans 8 steps
  FitResult r;
  EXPECT_EQ(train_weights(by_epochs), train_weights(capped, &r));
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[1].step, 8);
  EXPECT_EQ(planned_steps(capped, 4), 8);
  EXPECT_EQ(planned_epochs(capped, 4), 2);
}

TEST(TrainerSteps, FitTakesBuiltParts) {
  const RunConfig cfg = base_config();
  const std::vector<float> from_config = train_weights(cfg);
  auto with_schedule = [&](const optim::Schedule* own) {
    Context ctx(7, 2);
    auto model = model_for(ctx.rng);
    FitParts parts = make_fit_parts(ctx, *model, cfg, data().train);
    if (own) parts.schedule = *own;
    fit(ctx, *model, cfg.train, parts, data().train, nullptr, data().test, data().norm, {});
    return flat_state(*model);
  };
  EXPECT_EQ(with_schedule(nullptr), from_config);  // the parts make_fit_parts builds are what fit(cfg) uses
  const optim::Schedule constant = [](int64_t) { return optim::ScheduleValue{0.01f, 0.5f}; };
  EXPECT_NE(with_schedule(&constant), from_config);  // a schedule of the caller's own is the one used
}

TEST(TrainerSteps, EmaAveragesBatchNormStatistics) {
  Context ctx(3, 2);
  auto model = model_for(ctx.rng, "cnn");
  nn::ParameterArena arena(*model);
  ModelEma ema(*model, arena, 0.75f);
  std::vector<std::pair<std::string, Tensor*>> stats;
  for (auto& [name, t] : model->named_buffers())
    if (t->dtype() == DType::f32) stats.emplace_back(name, t);
  ASSERT_GE(stats.size(), 4u);  // two BatchNorm2d: running_mean, running_var each
  EXPECT_EQ(static_cast<int64_t>(ema.values().size()), arena.size() + stats[0].second->numel() * 2 +
                                                           stats[2].second->numel() * 2);
  const std::vector<float> before = flat_state(*model);
  model->train();
  Tensor x = random_tensor({8, 1, 28, 28}, 11);
  model->forward(ctx, Variable(x));  // moves the running statistics
  arena.data()[0] += 1.0f;
  const std::vector<float> after = flat_state(*model);
  ASSERT_NE(before, after);
  ema.update();
  ema.swap();  // the model now holds the EMA state: 0.75 before + 0.25 after, buffers included
  const std::vector<float> averaged = flat_state(*model);
  ASSERT_EQ(averaged.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(averaged[i], 0.75f * before[i] + 0.25f * after[i], 1e-6) << i;
  ema.swap();
  EXPECT_EQ(flat_state(*model), after);
}

TEST(TrainerSteps, StepLogIntervalAdaptsToTheRunLength) {
  EXPECT_EQ(step_log_interval(-1, 8), 1);       // a short run: every step
  EXPECT_EQ(step_log_interval(-1, 1407), 14);   // the default recipe: about 100 rows
  EXPECT_EQ(step_log_interval(-1, 100000), 50);  // a long run: at most every 50 steps
  EXPECT_EQ(step_log_interval(0, 8), 0);         // what the user wrote wins
  EXPECT_EQ(step_log_interval(7, 100000), 7);
}

TEST(TrainerSteps, ShortRunGetsPerStepScalarsByDefault) {
  const std::string dir = temp_dir("tb_short");
  RunConfig c = base_config();
  c.train.epochs = 2;  // 8 steps
  c.train.plots = false;
  ASSERT_EQ(c.train.log_every_steps, -1);
  Context ctx(7, 2);
  auto model = model_for(ctx.rng);
  fit(ctx, *model, c, data().train, nullptr, data().test, data().norm, {}, RunOutput{dir, {}, nullptr, nullptr});
  std::set<int64_t> steps;
  for (const auto& [k, n] : scalar_counts(dir + "/tensorboard"))
    if (k.first == "train/loss_step") steps.insert(k.second);
  EXPECT_EQ(steps, (std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(TrainerSteps, ResumedRunLogsEachStepOnce) {
  const std::string dir = temp_dir("tb");
  RunConfig c = base_config();
  c.train.epochs = 2;
  c.train.checkpoint_every_steps = 3;
  c.train.keep_last = 10;
  c.train.log_every_steps = 1;
  c.train.plots = false;
  c.data.augment = {};
  {
    Context ctx(7, 2);
    auto model = model_for(ctx.rng);
    fit(ctx, *model, c, data().train, nullptr, data().test, data().norm, {}, RunOutput{dir, {}, nullptr, nullptr});
  }
  const auto full = scalar_counts(dir + "/tensorboard");
  // as if the run had died after step 5 with step 3 its last checkpoint: resume in the same folder
  for (const char* step : {"3", "4"}) {
    const int64_t s = std::stoll(step);
    CheckpointContents ck = read_checkpoint(checkpoint_path(dir, s));
    Context ctx(7, 2);
    auto model = model_for(ctx.rng);
    fit(ctx, *model, c, data().train, nullptr, data().test, data().norm, {}, RunOutput{dir, {}, &ck, nullptr});
    const auto resumed = scalar_counts(dir + "/tensorboard");
    std::set<std::pair<std::string, int64_t>> keys_full, keys_resumed;
    for (const auto& [k, n] : full) keys_full.insert(k);
    for (const auto& [k, n] : resumed) {
      keys_resumed.insert(k);
      EXPECT_EQ(n, 1) << "resumed at " << s << ": " << k.first << " at step " << k.second;
    }
    EXPECT_EQ(keys_full, keys_resumed) << "resumed at " << s;
    EXPECT_TRUE(keys_resumed.count({"train/loss_step", 8}));
    EXPECT_TRUE(keys_resumed.count({"epoch/test_acc", 4}));
  }
  size_t files = 0, starts = 0;
  for (const auto& e : fs::directory_iterator(dir + "/tensorboard")) {
    ++files;
    for (const EventRecord& r : read_events(e.path().string())) starts += r.session_status == 1;
  }
  EXPECT_EQ(files, 3u);  // one per run segment
  EXPECT_EQ(starts, 2u);
  fs::remove_all(dir);
}

// model.freeze_epochs: the first epoch trains the head alone (the backbone keeps its values exactly),
// the later ones every layer; a run resumed from a checkpoint on either side of the switch ends with
// the weights of the uninterrupted run.
TEST(TrainerSteps, FreezeEpochsTrainTheHeadThenEveryLayer) {
  RunConfig c = base_config();
  c.train.epochs = 3;  // 4 steps per epoch
  c.transfer.freeze = {"backbone"};
  c.transfer.freeze_epochs = 1;
  c.train.checkpoint_every_steps = 1;
  c.train.keep_last = 20;
  c.train.plots = false;
  const std::string dir = temp_dir("freeze_epochs");
  Context ctx(7, 2);
  auto model = model_for(ctx.rng);
  const std::string head = head_prefix(*model);
  ASSERT_FALSE(head.empty());
  const auto split = [&] {  // (backbone values, head values)
    std::pair<std::vector<float>, std::vector<float>> out;
    for (auto& [name, var] : model->named_parameters()) {
      std::vector<float> v = var->data().to_vector();
      auto& to = name.rfind(head, 0) == 0 ? out.second : out.first;
      to.insert(to.end(), v.begin(), v.end());
    }
    return out;
  };
  std::vector<std::pair<std::vector<float>, std::vector<float>>> after{split()};
  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochMetrics&) { after.push_back(split()); };
  fit(ctx, *model, c, data().train, nullptr, data().test, data().norm, hooks, RunOutput{dir, {}, nullptr, nullptr});
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[1].first, after[0].first) << "the backbone moved during the frozen epoch";
  EXPECT_NE(after[1].second, after[0].second) << "the head did not train during the frozen epoch";
  EXPECT_NE(after[2].first, after[1].first) << "the backbone did not train after model.freeze_epochs";
  EXPECT_NE(after[3].first, after[2].first);
  const std::vector<float> full = flat_state(*model);
  for (int64_t step : {3, 6}) {  // a checkpoint in the frozen epoch, and one after the switch
    CheckpointContents ck = read_checkpoint(checkpoint_path(dir, step));
    Context rctx(7, 2);
    auto resumed = model_for(rctx.rng);
    fit(rctx, *resumed, c, data().train, nullptr, data().test, data().norm, {}, RunOutput{dir, {}, &ck, nullptr});
    EXPECT_EQ(flat_state(*resumed), full) << "resumed from step " << step;
  }
}
