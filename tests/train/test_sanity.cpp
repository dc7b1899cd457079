// The lecture's first checks: the initial loss against ln(classes), and overfitting a small sample,
// each with a network made to pass and one made to fail.
#include <cmath>

#include "common/testing.h"
#include "train/trainer_setup.h"
#include "cvtrain/train/sanity.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {
const TrainerData& data() { return trainer_data(); }
}  // namespace

TEST(Sanity, InitialLossNearLnClassesForASaneInit) {
  RunConfig c = trainer_config();
  c.model.dropout = 0.5;  // the check turns regularization off
  Context ctx(3, 2);
  const InitialLossCheck r = check_initial_loss(ctx, c, data().train, data().norm, nullptr);
  EXPECT_NEAR(r.expected, std::log(4.0), 1e-12);
  EXPECT_TRUE(r.ok) << r.reading;
  EXPECT_NE(r.reading.find("as expected"), std::string::npos) << r.reading;
}

TEST(Sanity, InitialLossTooHighForAnOversizedInit) {
  RunConfig c = trainer_config();
  c.model.init.scheme = "normal";
  c.model.init.scale = 1.0;  // weights ~ N(0, 1) on 784 inputs: logits in the tens, a loss far above ln 4
  Context ctx(3, 2);
  const InitialLossCheck r = check_initial_loss(ctx, c, data().train, data().norm, nullptr);
  EXPECT_FALSE(r.ok) << r.reading;
  EXPECT_GT(r.loss, 2 * r.expected);
  EXPECT_NE(r.reading.find("too high"), std::string::npos) << r.reading;
}

TEST(Sanity, OverfitsASmallSample) {
  RunConfig c = trainer_config();
  c.schedule.lr = 0.05;
  Context ctx(3, 2);
  const OverfitCheck r = check_overfit(ctx, c, data().train, data().norm, nullptr);
  EXPECT_TRUE(r.ok) << r.reading;
  EXPECT_EQ(r.images, kOverfitImages);
  EXPECT_LT(r.epochs, kOverfitEpochs);  // stopped once it was fit
  EXPECT_GE(r.train_acc, kOverfitAcc);
}

TEST(Sanity, CannotOverfitAtAVanishingLr) {
  RunConfig c = trainer_config();
  c.schedule.lr = 1e-9;  // the network cannot move
  Context ctx(3, 2);
  const OverfitCheck r = check_overfit(ctx, c, data().train, data().norm, nullptr);
  EXPECT_FALSE(r.ok) << r.reading;
  EXPECT_EQ(r.epochs, kOverfitEpochs);
  EXPECT_NE(r.reading.find("cannot overfit"), std::string::npos) << r.reading;
}
