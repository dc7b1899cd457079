// Curve reading: each rule on a synthetic history made to show it and on one made not to, the
// thresholds at their edges, and metrics.jsonl read back in both shapes (with a validation split's
// val_* columns, and with test_* only), plus the errors for malformed rows.
#include <cmath>
#include <optional>

#include <gtest/gtest.h>

#include "cvtrain/base/error.h"
#include "cvtrain/train/curve_reading.h"

using namespace cvtrain;
using namespace cvtrain::curve;

namespace {

// `n` logged steps with loss f(i).
template <class F>
std::vector<StepRow> steps(int n, F f, double lr = 0.1) {
  std::vector<StepRow> out;
  for (int i = 0; i < n; ++i) out.push_back({10 * (i + 1), 1 + i * 4 / n, f(i), lr, std::nullopt});
  return out;
}

// A healthy start: from ln(10) down to 0.5 within the first few rows, then slowly lower.
std::vector<StepRow> healthy_steps(int n = 40) {
  return steps(n, [](int i) { return 0.5 + 1.8 * std::exp(-i / 2.0) - 0.002 * i; });
}

// Epoch rows: train loss, train acc, eval acc (NAN: not evaluated), lr; eval loss from eval acc.
struct E {
  double loss, acc, eval_acc, lr = 0.1;
};
RunHistory history(const std::vector<E>& rows, bool validation = true) {
  RunHistory h;
  int64_t epoch = 1;
  for (const E& e : rows) {
    EpochRow r;
    r.epoch = epoch, r.step = 100 * epoch, ++epoch;
    r.train_loss = e.loss, r.train_acc = e.acc, r.lr = e.lr;
    if (!std::isnan(e.eval_acc) && validation) {
      r.val_acc = e.eval_acc, r.val_loss = 2 * (1 - e.eval_acc);
      r.test_acc = e.eval_acc - 0.01, r.test_loss = 2 * (1.01 - e.eval_acc);  // a validation run logs both
    } else if (!std::isnan(e.eval_acc)) {
      r.test_acc = e.eval_acc, r.test_loss = 2 * (1 - e.eval_acc);
    }
    h.epochs.push_back(r);
  }
  h.split = eval_split_of(h.epochs);
  return h;
}

// A copy: the reading is usually a temporary.
std::optional<Finding> find(const CurveReading& r, const std::string& rule) {
  for (const Finding& f : r.findings)
    if (f.rule == rule) return f;
  return std::nullopt;
}

bool unchecked(const CurveReading& r, const std::string& rule) {
  for (const std::string& u : r.unchecked)
    if (u.rfind(rule + ":", 0) == 0) return true;
  return false;
}

}  // namespace

TEST(CurveReading, EveryRuleHasAnIdTitleAndAdvice) {
  ASSERT_EQ(curve_rules().size(), 7u);
  for (const CurveRule& r : curve_rules()) {
    EXPECT_FALSE(std::string(r.id).empty());
    EXPECT_FALSE(std::string(r.title).empty());
    EXPECT_GT(std::string(r.advice).size(), 20u) << r.id;
  }
}

TEST(CurveReading, FlatStartAtChanceTriggers) {
  RunHistory h;
  h.steps = steps(40, [](int i) { return i < 20 ? 2.30 - 0.0005 * i : 0.6; });  // flat, then a drop
  std::optional<Finding> f = find(read_curves(h, 10), "flat_start");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_NE(f->reading.find("ln(10) = 2.3"), std::string::npos) << f->reading;
  EXPECT_NE(f->reading.find("then fell to 0.6"), std::string::npos) << f->reading;
  EXPECT_NE(f->advice.find("initialization"), std::string::npos);
}

TEST(CurveReading, FlatStartNotMovingTriggersBelowChance) {
  RunHistory h;  // 4 classes: ln 4 = 1.386; the loss sits at 1.2, not moving at all
  h.steps = steps(40, [](int) { return 1.2; });
  std::optional<Finding> f = find(read_curves(h, 4), "flat_start");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("never took off"), std::string::npos) << f->reading;
}

TEST(CurveReading, FlatStartHealthyAndConvergedDoNotTrigger) {
  RunHistory h;
  h.steps = healthy_steps();
  EXPECT_FALSE(find(read_curves(h, 10), "flat_start"));
  // converged before the first logged step: flat, but far below chance
  h.steps = steps(40, [](int) { return 0.01; });
  EXPECT_FALSE(find(read_curves(h, 10), "flat_start"));
  // a drop just over kFlatMinDrop over the start, well below chance: not flat
  h.steps = steps(40, [](int i) { return i < 10 ? 1.0 - (kFlatMinDrop + 0.02) * i / 9.0 : 0.9; });
  EXPECT_FALSE(find(read_curves(h, 10), "flat_start"));
}

TEST(CurveReading, FlatStartNeedsEnoughSteps) {
  RunHistory h;
  h.steps = steps(kMinStepRows - 1, [](int) { return 2.3; });
  const CurveReading r = read_curves(h, 10);
  EXPECT_FALSE(find(r, "flat_start"));
  EXPECT_TRUE(unchecked(r, "flat_start"));
}

TEST(CurveReading, ExplodingOnARiseAndOnNaN) {
  RunHistory h;
  h.steps = steps(40, [](int i) { return i < 20 ? 2.0 - 0.05 * i : 1.0 + 0.5 * (i - 20); });
  std::optional<Finding> f = find(read_curves(h, 10), "exploding");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, Severity::problem);
  EXPECT_NE(f->reading.find("rose from its low"), std::string::npos) << f->reading;

  h.steps = healthy_steps();
  h.steps[30].loss = NAN;
  f = find(read_curves(h, 10), "exploding");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("not finite"), std::string::npos) << f->reading;
  EXPECT_NE(f->reading.find("step 310"), std::string::npos) << f->reading;
}

TEST(CurveReading, ExplodingOnALossFarAboveChance) {
  RunHistory h;  // a run stopped by divergence after one logged step
  h.steps = steps(1, [](int) { return 679.0; });
  std::optional<Finding> f = find(read_curves(h, 4), "exploding");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("679 at step 10"), std::string::npos) << f->reading;
  h.steps = steps(1, [](int) { return 0.9 * kExplodeOverChance * std::log(4.0); });
  EXPECT_FALSE(find(read_curves(h, 4), "exploding"));
}

TEST(CurveReading, ExplodingFromEpochRowsAlone) {
  const RunHistory h = history({{1.0, 0.6, 0.6}, {0.8, 0.7, 0.7}, {2.5, 0.2, 0.2}});
  std::optional<Finding> f = find(read_curves(h, 10), "exploding");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("epoch 2 to 2.5 in epoch 3"), std::string::npos) << f->reading;
}

TEST(CurveReading, ExplodingIgnoresNoiseAndSmallRises) {
  RunHistory h;
  h.steps = healthy_steps();
  EXPECT_FALSE(find(read_curves(h, 10), "exploding"));
  // a near-zero loss doubling is noise, not divergence (under kExplodeMinNats)
  h.steps = steps(40, [](int i) { return i % 2 ? 0.02 : 0.06; });
  EXPECT_FALSE(find(read_curves(h, 10), "exploding"));
}

TEST(CurveReading, PlateauAtConstantLr) {
  const RunHistory h = history({{1.0, .6, .6}, {0.7, .7, .7}, {0.6, .75, .75}, {0.601, .75, .75}, {0.598, .75, .75},
                                {0.6, .75, .75}});
  std::optional<Finding> f = find(read_curves(h, 10), "plateau");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("last 3 epochs"), std::string::npos) << f->reading;
  EXPECT_NE(f->advice.find("decay"), std::string::npos);
}

TEST(CurveReading, NoPlateauWhenImprovingOrDecayingOrFit) {
  // still improving by more than kPlateauGain
  EXPECT_FALSE(find(read_curves(history({{1.0, .6, .6}, {0.8, .7, .7}, {0.7, .7, .7}, {0.65, .7, .7}, {0.6, .7, .7}}), 10),
                 "plateau"));
  // flat, but the lr changes inside the window: the schedule is already decaying it
  EXPECT_FALSE(find(read_curves(history({{1.0, .6, .6}, {0.6, .7, .7, 0.1}, {0.6, .7, .7, 0.05}, {0.6, .7, .7, 0.025}}), 10),
                 "plateau"));
  // flat below kPlateauFloor: the training set is fit
  EXPECT_FALSE(find(read_curves(history({{1.0, .6, .6}, {0.01, 1, .9}, {0.01, 1, .9}, {0.01, 1, .9}, {0.01, 1, .9}}), 10),
                 "plateau"));
  const CurveReading r = read_curves(history({{1.0, .6, .6}, {0.9, .6, .6}}), 10);
  EXPECT_TRUE(unchecked(r, "plateau"));
}

TEST(CurveReading, OverfittingGapNamesTheSplit) {
  RunHistory h = history({{0.5, .80, .78}, {0.2, .93, .80}, {0.05, .99, .81}});
  std::optional<Finding> f = find(read_curves(h, 10), "overfitting");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("validation accuracy 81.0%"), std::string::npos) << f->reading;
  EXPECT_NE(f->reading.find("gap of 18.0 points"), std::string::npos) << f->reading;
  EXPECT_NE(f->advice.find("regularization"), std::string::npos);
  // the same curves with the test split standing in
  h = history({{0.5, .80, .78}, {0.2, .93, .80}, {0.05, .99, .81}}, /*validation=*/false);
  f = find(read_curves(h, 10), "overfitting");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("test accuracy 81.0%"), std::string::npos) << f->reading;
}

TEST(CurveReading, NoOverfittingUnderTheGap) {
  const double acc = 0.95, eval = acc - kOverfitGap + 0.01;
  EXPECT_FALSE(find(read_curves(history({{0.3, .9, .88}, {0.2, acc, eval}}), 10), "overfitting"));
  const CurveReading r = read_curves(history({{0.3, .9, NAN}}), 10);
  EXPECT_TRUE(unchecked(r, "overfitting"));
}

TEST(CurveReading, GapRulesSkipADivergedEpoch) {
  const CurveReading r = read_curves(history({{1.0, .6, .6}, {NAN, NAN, .25}}), 10);
  EXPECT_FALSE(find(r, "overfitting"));
  EXPECT_FALSE(find(r, "underfitting"));
  EXPECT_TRUE(unchecked(r, "overfitting"));
  EXPECT_TRUE(find(r, "exploding"));
}

TEST(CurveReading, ExplodingIgnoresOneBadBatch) {
  RunHistory h;  // one batch's loss doubling among 12 logged steps is noise, not divergence
  h.steps = steps(12, [](int i) { return i == 6 ? 1.9 : 0.9; });
  EXPECT_FALSE(find(read_curves(h, 10), "exploding"));
}

TEST(CurveReading, OverfittingMentionsTheRisingEvalLoss) {
  // eval loss = 2 (1 - acc): the accuracy falling from .85 to .7 raises it from 0.3 to 0.6
  const RunHistory h = history({{0.5, .80, .85}, {0.1, .97, .75}, {0.02, .995, .70}});
  std::optional<Finding> f = find(read_curves(h, 10), "overfitting");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("validation loss rose from 0.3 (epoch 1) to 0.6"), std::string::npos) << f->reading;
}

TEST(CurveReading, UnderfittingNoGapLowAccuracy) {
  std::optional<Finding> f = find(read_curves(history({{1.2, .55, .56}, {1.0, .62, .63}}), 10), "underfitting");
  ASSERT_TRUE(f);
  EXPECT_NE(f->reading.find("training accuracy is 62.0%"), std::string::npos) << f->reading;
  EXPECT_NE(f->advice.find("bigger model"), std::string::npos);
}

TEST(CurveReading, NoUnderfittingWithAGapOrAHighAccuracy) {
  EXPECT_FALSE(find(read_curves(history({{1.0, .70, .70 - kNoGap - 0.01}}), 10), "underfitting"));
  EXPECT_FALSE(find(read_curves(history({{0.1, kUnderfitAcc + 0.01, kUnderfitAcc}}), 10), "underfitting"));
}

TEST(CurveReading, StillImprovingAtTheEnd) {
  std::optional<Finding> f = find(read_curves(history({{1, .7, .70}, {.8, .8, .80}, {.7, .85, .84}, {.6, .87, .86}}), 10),
                          "still_improving");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, Severity::info);
  EXPECT_NE(f->reading.find("from 80.00% (epoch 2) to 86.00% (epoch 4)"), std::string::npos) << f->reading;
}

TEST(CurveReading, NotStillImprovingWhenFlatOrPastItsPeak) {
  EXPECT_FALSE(find(read_curves(history({{1, .7, .70}, {.8, .8, .86}, {.7, .85, .862}, {.6, .87, .863}}), 10),
                 "still_improving"));  // +0.3 points over the last 2 evaluations: under kStillRising
  EXPECT_FALSE(find(read_curves(history({{1, .7, .70}, {.8, .8, .90}, {.7, .85, .84}, {.6, .87, .86}}), 10),
                 "still_improving"));  // rising again, but below its epoch-2 best
  EXPECT_TRUE(unchecked(read_curves(history({{1, .7, .7}}), 10), "still_improving"));
}

namespace {

// Epochs of 10 s that waited `waits[i]` s for the loader.
RunHistory waiting(const std::vector<double>& waits) {
  RunHistory h = history(std::vector<E>(waits.size(), E{1, .8, .8}));
  for (size_t i = 0; i < waits.size(); ++i) h.epochs[i].seconds = 10, h.epochs[i].data_wait_s = waits[i];
  return h;
}

}  // namespace

TEST(CurveReading, DataBoundWhenTheLoaderTakesATenthOfTheTime) {
  std::optional<Finding> f = find(read_curves(waiting({0.5, 2.0, 1.5}), 10), "data_bound");  // 4 s of 30
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_NE(f->reading.find("4.0 s of its 30.0 s (13%) over 3 epochs"), std::string::npos) << f->reading;
  EXPECT_NE(f->advice.find("data.workers"), std::string::npos);
  EXPECT_FALSE(find(read_curves(waiting({0.5, 1.0, 1.4}), 10), "data_bound"));  // 2.9 s of 30: under kDataBound
  RunHistory old = waiting({5, 5});
  for (EpochRow& e : old.epochs) e.data_wait_s.reset();  // a log from before the column
  EXPECT_TRUE(unchecked(read_curves(old, 10), "data_bound"));
}

TEST(RunHistory, DataWaitIsReadFromMetricsAndMayBeAbsent) {
  const auto rows = parse_metrics_jsonl(
      R"({"epoch":1,"step":10,"train_loss":1,"train_acc":0.5,"lr":0.1,"seconds":8,"data_wait_s":1.25})" "\n"
      R"({"epoch":2,"step":20,"train_loss":1,"train_acc":0.5,"lr":0.1,"seconds":8})" "\n", "m");
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(rows[0].data_wait_s);
  EXPECT_DOUBLE_EQ(*rows[0].data_wait_s, 1.25);
  EXPECT_FALSE(rows[1].data_wait_s);
}

TEST(RunHistory, MetricsWithValidationColumnsChooseThem) {
  const std::string text =
      R"({"epoch":1,"step":10,"train_loss":0.9,"train_acc":0.7,"val_loss":0.8,"val_acc":0.72,"test_loss":0.85,"test_acc":0.71,"lr":0.1,"images_per_s":100,"seconds":1,"data_wait_s":0})"
      "\n"
      R"({"epoch":2,"step":20,"train_loss":0.5,"train_acc":0.8,"val_loss":null,"val_acc":null,"test_loss":null,"test_acc":null,"ema_val_loss":null,"ema_val_acc":null,"lr":0.05,"images_per_s":100,"seconds":1,"data_wait_s":0})"
      "\n";
  RunHistory h;
  h.epochs = parse_metrics_jsonl(text, "m.jsonl");
  h.split = eval_split_of(h.epochs);
  ASSERT_EQ(h.epochs.size(), 2u);
  EXPECT_EQ(h.split, EvalSplit::validation);
  EXPECT_STREQ(h.split_name(), "validation");
  EXPECT_DOUBLE_EQ(*h.eval_acc(h.epochs[0]), 0.72);
  EXPECT_DOUBLE_EQ(*h.eval_loss(h.epochs[0]), 0.8);
  EXPECT_DOUBLE_EQ(*h.epochs[0].test_acc, 0.71);
  EXPECT_FALSE(h.eval_acc(h.epochs[1]).has_value());
  EXPECT_DOUBLE_EQ(h.epochs[1].lr, 0.05);
}

TEST(RunHistory, MetricsWithTestColumnsOnlyFallBackToTest) {
  const std::string text =
      R"({"epoch":1,"step":10,"train_loss":0.9,"train_acc":0.7,"test_loss":0.85,"test_acc":0.71,"ema_test_loss":0.8,"ema_test_acc":0.73,"lr":0.1,"images_per_s":100,"seconds":1,"data_wait_s":0})"
      "\n";
  RunHistory h;
  h.epochs = parse_metrics_jsonl(text, "m.jsonl");
  h.split = eval_split_of(h.epochs);
  EXPECT_EQ(h.split, EvalSplit::test);
  EXPECT_STREQ(h.split_name(), "test");
  EXPECT_DOUBLE_EQ(*h.eval_acc(h.epochs[0]), 0.71);
  EXPECT_DOUBLE_EQ(*h.ema_eval_acc(h.epochs[0]), 0.73);
  EXPECT_FALSE(h.epochs[0].val_acc.has_value());
}

TEST(RunHistory, MalformedLinesNameFileAndLine) {
  const std::string good = R"({"epoch":1,"step":10,"train_loss":0.9,"train_acc":0.7,"lr":0.1})";
  try {
    parse_metrics_jsonl(good + "\n{\"epoch\": 2, oops\n" + good + "\n", "run/metrics.jsonl");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("run/metrics.jsonl:2:"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_metrics_jsonl(R"({"epoch":1,"step":10,"train_acc":0.7,"lr":0.1})" "\n", "m"), InputError);
  EXPECT_THROW(parse_metrics_jsonl("[1,2]\n", "m"), InputError);
  EXPECT_THROW(parse_steps_jsonl(R"({"step":"x","loss":1,"lr":0.1})" "\n", "s"), InputError);
  // a torn last line (a killed run: no final newline) is dropped; null losses are NaN
  const auto rows = parse_metrics_jsonl(good + "\n{\"epoch\": 2, \"st", "m");
  EXPECT_EQ(rows.size(), 1u);
  const auto s = parse_steps_jsonl(R"({"step":5,"epoch":1,"loss":null,"lr":0.1})" "\n", "s");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(std::isnan(s[0].loss));
}
