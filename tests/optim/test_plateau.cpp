// ReduceLROnPlateau against torch's, evaluation by evaluation (tests/fixtures/plateau.txt,
// record_plateau.py): patience, the min_lr floor, the relative threshold.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/optim/plateau.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

void expect_matches(const std::string& c) {
  static const auto fx = load_fixture("plateau");
  const std::vector<float> o = fx.at(c + ".options").to_vector(), metrics = fx.at(c + ".metrics").to_vector(),
                           lr = fx.at(c + ".lr").to_vector();
  optim::ScheduleOptions opt;
  opt.name = "plateau";
  opt.lr = o[0], opt.plateau_factor = o[1], opt.plateau_patience = static_cast<int64_t>(o[2]);
  opt.plateau_threshold = o[3], opt.min_lr = o[4];
  optim::Plateau p(opt);
  ASSERT_EQ(metrics.size(), lr.size());
  for (size_t i = 0; i < metrics.size(); ++i) {
    p.step(metrics[i]);
    EXPECT_NEAR(p.state().lr, lr[i], 1e-6 * lr[i]) << c << " evaluation " << i;
    EXPECT_NEAR(p.scale(), lr[i] / o[0], 1e-6 * lr[i] / o[0]) << c << " evaluation " << i;
  }
}

}  // namespace

TEST(Plateau, MatchesTorchWithPatience) { expect_matches("patience2"); }
TEST(Plateau, MatchesTorchDownToMinLr) { expect_matches("floor"); }
TEST(Plateau, MatchesTorchRelativeThreshold) { expect_matches("threshold"); }

TEST(Plateau, StateRoundTrips) {
  optim::ScheduleOptions opt;
  opt.name = "plateau", opt.lr = 0.1, opt.plateau_patience = 1;
  optim::Plateau a(opt), b(opt);
  for (double m : {1.0, 1.0, 0.5, 0.6}) a.step(m);
  b.set_state(a.state());
  for (double m : {0.7, 0.8, 0.9}) EXPECT_EQ(a.step(m), b.step(m));
  EXPECT_EQ(a.state().lr, b.state().lr);
  EXPECT_LT(a.state().lr, 0.1);
}
