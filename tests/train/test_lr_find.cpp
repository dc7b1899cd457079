// The learning-rate range test: the lr grows exponentially from min_lr to max_lr (one value per
// optimizer step), the smoothed loss is the bias-corrected moving average of the recorded losses,
// the sweep stops once the smoothed loss passes `diverge` times its minimum, and the suggestion lies
// before the minimum, where the loss falls.
#include <cmath>

#include "common/testing.h"
#include "train/trainer_setup.h"
#include "cvtrain/train/lr_find.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

LrFindResult sweep(const LrFindOptions& o) {
  Context ctx(7, 2);
  auto model = trainer_model(ctx.rng);
  RunConfig cfg = trainer_config();
  cfg.train.batch_size = 16;  // 16 batches per epoch: the sweep spans several epochs
  return lr_find(ctx, *model, cfg, trainer_data().train, trainer_data().norm, o);
}

}  // namespace

TEST(LrFind, SweepsExponentiallyAndSmoothsTheLoss) {
  LrFindOptions o;
  o.min_lr = 1e-4, o.max_lr = 1e-1, o.steps = 40, o.diverge = 1e9;  // no early stop
  const LrFindResult r = sweep(o);
  ASSERT_EQ(r.lr.size(), 40u);
  EXPECT_NEAR(r.lr.front(), 1e-4, 1e-9);
  EXPECT_NEAR(r.lr.back(), 1e-1, 1e-6);
  for (size_t i = 1; i < r.lr.size(); ++i) EXPECT_NEAR(r.lr[i] / r.lr[i - 1], std::pow(1e3, 1.0 / 39), 1e-4);
  double avg = 0;  // the bias-corrected moving average, recomputed
  for (size_t i = 0; i < r.loss.size(); ++i) {
    avg = o.smoothing * avg + (1 - o.smoothing) * r.loss[i];
    EXPECT_NEAR(r.smoothed[i], avg / (1 - std::pow(o.smoothing, static_cast<double>(i + 1))), 1e-9) << i;
  }
  EXPECT_LT(r.smoothed.back(), r.smoothed.front());  // this MLP learns in this range
  EXPECT_GT(r.suggested_lr, 0);
  EXPECT_LE(r.suggested_lr, r.min_loss_lr);
  EXPECT_NE(r.why.find("falls fastest"), std::string::npos);
}

TEST(LrFind, StopsOnceTheSmoothedLossPassesItsMinimumByTheFactor) {
  LrFindOptions o;
  o.min_lr = 1e-4, o.max_lr = 1e-1, o.steps = 40, o.diverge = 1e9;
  const LrFindResult whole = sweep(o);
  // The rule is asked after each step from the 10th on, before that step is recorded: with n steps
  // recorded, it stops when smoothed[n-1] > factor x min(smoothed[0..n-1]), and step n+1 is the last.
  size_t expected = whole.smoothed.size();
  for (size_t n = 10; n < whole.smoothed.size() && expected == whole.smoothed.size(); ++n) {
    double low = INFINITY;
    for (size_t i = 0; i < n; ++i) low = std::min(low, whole.smoothed[i]);
    if (whole.smoothed[n - 1] > 1.0001 * low) expected = n + 1;
  }
  ASSERT_LT(expected, whole.smoothed.size()) << "the loss never rose: this test cannot see the stop";
  o.diverge = 1.0001;
  EXPECT_EQ(sweep(o).lr.size(), expected);
}

TEST(LrFind, RefusesASweepThatDivergesAtOnce) {
  LrFindOptions o;
  o.min_lr = 1e4, o.max_lr = 1e6, o.steps = 50;
  EXPECT_THROW(sweep(o), InputError);
}

TEST(LrFind, RefusesAnEmptyRange) {
  LrFindOptions o;
  o.min_lr = 1, o.max_lr = 0.1;
  EXPECT_THROW(sweep(o), InputError);
}
