// Search spaces (seeded, statistical checks of each distribution), grids, coarse-to-fine
// narrowing, successive-halving budgets, the child-process pool, results; ensemble averaging and
// snapshot cycle ends.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "cvtrain/base/error.h"
#include "cvtrain/train/ensemble.h"
#include "cvtrain/train/search.h"

namespace cvtrain::search {
namespace {

std::vector<double> draws(const Param& p, int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(std::stod(sample_value(p, rng)));
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

TEST(Search, UniformHasTheMeanAndVarianceOfU) {
  Param p{"model.dropout", Dist::uniform, 0.1, 0.5, {}};
  const int64_t n = 20000;
  const auto v = draws(p, n, 1);
  for (double x : v) ASSERT_TRUE(x >= 0.1 && x <= 0.5) << x;
  const double m = mean(v), var_true = 0.4 * 0.4 / 12;
  EXPECT_NEAR(m, 0.3, 5 * std::sqrt(var_true / n));  // 5 standard errors
  double var = 0;
  for (double x : v) var += (x - m) * (x - m) / n;
  EXPECT_NEAR(var, var_true, 0.05 * var_true);
}

TEST(Search, LogUniformIsUniformInTheLog) {
  Param p{"optim.lr", Dist::loguniform, 1e-4, 1.0, {}};
  const int64_t n = 20000;
  std::vector<int64_t> decade(4, 0);
  for (double x : draws(p, n, 2)) {
    ASSERT_TRUE(x >= 1e-4 * (1 - 1e-5) && x <= 1.0) << x;
    decade[std::min<int64_t>(3, static_cast<int64_t>(std::floor(std::log10(x) + 4)))]++;
  }
  // each decade expects n/4: a chi-square with 3 degrees of freedom stays below 16.3 with p = 0.999
  double chi2 = 0;
  for (int64_t c : decade) chi2 += (c - n / 4.0) * (c - n / 4.0) / (n / 4.0);
  EXPECT_LT(chi2, 16.3);
}

TEST(Search, IntAndChoiceAreEquallyLikely) {
  Param pi{"train.batch_size", Dist::integer, 3, 7, {}};
  std::map<int64_t, int64_t> count;
  const int64_t n = 10000;
  for (double x : draws(pi, n, 3)) {
    ASSERT_EQ(x, std::floor(x));
    count[static_cast<int64_t>(x)]++;
  }
  ASSERT_EQ(count.size(), 5u);
  EXPECT_EQ(count.begin()->first, 3);
  EXPECT_EQ(count.rbegin()->first, 7);
  double chi2 = 0;
  for (auto& [k, c] : count) chi2 += (c - n / 5.0) * (c - n / 5.0) / (n / 5.0);
  EXPECT_LT(chi2, 18.5);  // 4 degrees of freedom, p = 0.999
  Param pc{"optim.name", Dist::choice, 0, 0, {"sgd", "adam", "adamw"}};
  Rng rng(4);
  std::map<std::string, int64_t> cc;
  for (int i = 0; i < 9000; ++i) cc[sample_value(pc, rng)]++;
  ASSERT_EQ(cc.size(), 3u);
  for (auto& [k, c] : cc) EXPECT_NEAR(c, 3000, 5 * std::sqrt(9000 * (1 / 3.0) * (2 / 3.0))) << k;
}

TEST(Search, BadRangesAreInputErrors) {
  EXPECT_THROW(check_param({"a", Dist::loguniform, 0.0, 1.0, {}}, "s"), InputError);
  EXPECT_THROW(check_param({"a", Dist::uniform, 2.0, 1.0, {}}, "s"), InputError);
  EXPECT_THROW(check_param({"a", Dist::integer, 1.5, 3.0, {}}, "s"), InputError);
  EXPECT_THROW(check_param({"a", Dist::choice, 0, 0, {}}, "s"), InputError);
  EXPECT_NO_THROW(check_param({"a", Dist::grid, 0, 0, {"1"}}, "s"));
}

TEST(Search, GridCrossedWithRandomKeysIsDeterministic) {
  std::vector<Param> space = {{"train.batch_size", Dist::grid, 0, 0, {"64", "128"}},
                              {"optim.lr", Dist::loguniform, 1e-3, 1.0, {}},
                              {"optim.name", Dist::grid, 0, 0, {"sgd", "adam", "adamw"}}};
  EXPECT_EQ(grid_size(space), 6);
  const auto a = make_assignments(space, 12, 7, 1);
  std::set<std::pair<std::string, std::string>> points;
  std::set<std::string> lrs;
  for (int64_t i = 0; i < 12; ++i) {
    points.insert({a[i][0].second, a[i][2].second});
    lrs.insert(a[i][1].second);
    EXPECT_EQ(a[i][0].second, (i % 6) < 3 ? "64" : "128");  // the first key varies slowest
  }
  EXPECT_EQ(points.size(), 6u);
  EXPECT_EQ(lrs.size(), 12u);
  EXPECT_EQ(make_assignments(space, 12, 7, 1), a);  // resumable: the same trials again
  EXPECT_NE(make_assignments(space, 12, 8, 1), a);
  EXPECT_NE(make_assignments(space, 12, 7, 2)[0][1], a[0][1]);
  // a trial's draws do not depend on how many trials there are
  EXPECT_EQ(make_assignments(space, 3, 7, 1)[2], a[2]);
}

TEST(Search, NarrowingStaysInsideAndKeepsTheBest) {
  std::vector<Param> space = {{"optim.lr", Dist::loguniform, 1e-4, 1.0, {}},
                              {"model.dropout", Dist::uniform, 0.0, 0.5, {}},
                              {"optim.name", Dist::choice, 0, 0, {"sgd", "adam", "adamw"}}};
  std::vector<Assignment> best = {{{"optim.lr", "0.01"}, {"model.dropout", "0.2"}, {"optim.name", "adam"}},
                                  {{"optim.lr", "0.03"}, {"model.dropout", "0.3"}, {"optim.name", "sgd"}}};
  const auto n = narrow_space(space, best);
  EXPECT_LE(n[0].lo, 0.01);
  EXPECT_GE(n[0].hi, 0.03);
  EXPECT_GT(n[0].lo, 1e-4);
  EXPECT_LT(n[0].hi, 0.2);
  EXPECT_LE(n[1].lo, 0.2);
  EXPECT_GE(n[1].hi, 0.3);
  EXPECT_GE(n[1].lo, 0.0);
  EXPECT_LT(n[1].hi - n[1].lo, 0.5);
  EXPECT_EQ(n[2].values, (std::vector<std::string>{"sgd", "adam"}));
}

TEST(Search, HalvingBudgets) {
  EXPECT_EQ(halving_budgets(9, 3), (std::vector<int64_t>{1, 3, 9}));
  EXPECT_EQ(halving_budgets(8, 2), (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(halving_budgets(10, 3), (std::vector<int64_t>{1, 3, 10}));
  EXPECT_EQ(halving_budgets(1, 3), (std::vector<int64_t>{1}));
  EXPECT_EQ(halving_budgets(5, 0), (std::vector<int64_t>{5}));
  EXPECT_EQ(halving_keep(10, 3), 4);
  EXPECT_EQ(halving_keep(1, 3), 1);
}

TEST(Search, ProcessPoolReportsEachExitStatus) {
  const auto dir = std::filesystem::temp_directory_path() / "cvtrain_test_pool";
  std::filesystem::create_directories(dir);
  std::vector<Job> jobs;
  for (int code : {0, 3, 0, 5})
    jobs.push_back({{"/bin/sh", "-c", "echo hello; exit " + std::to_string(code)}, (dir / ("j" + std::to_string(jobs.size()))).string()});
  jobs.push_back({{"/nonexistent/program"}, (dir / "missing").string()});
  EXPECT_EQ(run_jobs(jobs, 2), (std::vector<int>{0, 3, 0, 5, 127}));
  std::ifstream in(dir / "j0");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hello");
  std::filesystem::remove_all(dir);
}

TEST(Search, ResultsSortFailedLast) {
  std::vector<TrialResult> r(4);
  r[0].status = "failed", r[0].params = {{"optim.lr", "9"}};
  r[1].status = "ok", r[1].metric = 0.5, r[1].params = {{"optim.lr", "1"}};
  r[2].status = "stopped", r[2].metric = 0.9, r[2].params = {{"optim.lr", "2"}};
  r[3].status = "ok", r[3].metric = 0.7, r[3].params = {{"optim.lr", "3"}};
  sort_results(r);
  EXPECT_EQ(r[0].metric, 0.7);
  EXPECT_EQ(r[1].metric, 0.5);
  EXPECT_EQ(r[2].status, "stopped");
  EXPECT_EQ(r[3].status, "failed");
  const std::string csv = results_csv(r, {{"optim.lr", Dist::uniform, 0, 10, {}}});
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "rank,stage,trial,status,val_acc,best_val_acc,test_acc,epochs,steps,seconds,finished_s,optim.lr,dir,error");
}

TEST(Ensemble, AverageAndScore) {
  Predictions a{2, 2, {0.9f, 0.1f, 0.6f, 0.4f}, false}, b{2, 2, {0.2f, 0.8f, 0.3f, 0.7f}, false};
  Tensor y = Tensor::empty({2}, DType::i64);
  y.data<int64_t>()[0] = 0, y.data<int64_t>()[1] = 1;
  EXPECT_DOUBLE_EQ(score(a, y).accuracy, 0.5);
  EXPECT_DOUBLE_EQ(score(b, y).accuracy, 0.5);
  const Predictions m = average({a, b});
  EXPECT_FLOAT_EQ(m.values[0], 0.55f);
  EXPECT_DOUBLE_EQ(score(m, y).accuracy, 1.0);  // better than either member
  EXPECT_NEAR(score(m, y).nll, -(std::log(0.55) + std::log(0.55)) / 2, 1e-6);
  Predictions l{1, 2, {0.0f, std::log(3.0f)}, true};  // softmax (0.25, 0.75)
  Tensor y1 = Tensor::empty({1}, DType::i64);
  y1.data<int64_t>()[0] = 1;
  EXPECT_NEAR(score(l, y1).nll, -std::log(0.75), 1e-6);
  Predictions c{3, 2, std::vector<float>(6, 0.5f), false};
  EXPECT_THROW(average({a, c}), InputError);
}

TEST(Ensemble, SnapshotsAtSgdrCycleEnds) {
  RunConfig cfg;
  cfg.schedule.name = "sgdr";
  cfg.schedule.restart_period = 1;
  cfg.schedule.restart_mult = 2;
  cfg.train.epochs = 8;
  std::vector<int64_t> ends;
  for (int64_t e = 1; e <= 8; ++e)
    if (is_cycle_end(cfg, e)) ends.push_back(e);
  EXPECT_EQ(ends, (std::vector<int64_t>{1, 3, 7, 8}));
  cfg.schedule.name = "cosine";
  ends.clear();
  for (int64_t e = 1; e <= 8; ++e)
    if (is_cycle_end(cfg, e)) ends.push_back(e);
  EXPECT_EQ(ends, (std::vector<int64_t>{8}));
}

TEST(Search, HyperbandBracketsFollowLiEtAl) {
  // Li et al. 2018, Table 1 (R = 81, eta = 3): brackets of 81, 34, 15, 8 and 5 trials
  std::vector<int64_t> n;
  for (int64_t s = 4; s >= 0; --s) n.push_back(hyperband_trials(5, s, 3));
  EXPECT_EQ(n, (std::vector<int64_t>{81, 34, 15, 8, 5}));
  EXPECT_EQ(hyperband_trials(3, 2, 3), 9);  // 9 epochs, eta 3: 9 from 1 epoch, 5 from 3, 3 at 9
  EXPECT_EQ(hyperband_trials(3, 1, 3), 5);
  EXPECT_EQ(hyperband_trials(3, 0, 3), 3);
}

}  // namespace
}  // namespace cvtrain::search
