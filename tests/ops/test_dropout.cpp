// Dropout op: the kept fraction and the 1/(1-p) scale, the mask as a pure function of (seed,
// stream, index) (same seed: same mask; 1 and 2 threads: same mask), identity in evaluation and for
// p = 0, and the gradient equal to mask * scale. The original form (no scaling in training, times
// 1-p at evaluation): its masks, its gradient, and the lecture's argument that both forms have the
// same expected output (the mean over many masks matches the evaluation output).
#include <omp.h>

#include <cmath>

#include "cvtrain/nn/layers.h"

#include "common/testing.h"
#include "cvtrain/ops/dropout.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {
std::vector<float> dropout_of_ones(uint64_t seed, int64_t n, float p, int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  Context ctx(seed);
  std::vector<float> y = ops::dropout(ctx, Variable(Tensor::full({n}, 1.0f)), p, true).data().to_vector();
  omp_set_num_threads(saved);
  return y;
}
}  // namespace

TEST(Dropout, KeepsOneMinusPAndScales) {
  const int64_t n = 1 << 20;
  for (float p : {0.1f, 0.5f, 0.8f}) {
    std::vector<float> y = dropout_of_ones(7, n, p, 2);
    int64_t kept = 0;
    for (float v : y) {
      if (v != 0.0f) {
        ASSERT_EQ(v, 1.0f / (1.0f - p));
        ++kept;
      }
    }
    // Binomial standard deviation sqrt(n p (1-p)) <= 512; allow 6 of them.
    EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - p, 6.0 * 512 / n) << "p = " << p;
  }
}

TEST(Dropout, MaskIsPhiloxOfSeedStreamAndIndex) {
  const int64_t n = 1001;
  const float p = 0.3f;
  Context ctx(42);
  ctx.rng.next_stream();  // the op takes the next stream, whatever was drawn before
  std::vector<float> y = ops::dropout(ctx, Variable(Tensor::full({n}, 1.0f)), p, true).data().to_vector();
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(y[i] != 0.0f, philox_uniform(42, 2, static_cast<uint64_t>(i)) >= p) << i;
}

TEST(Dropout, SameSeedSameMaskAndNewMaskPerCall) {
  const int64_t n = 4096;
  EXPECT_EQ(dropout_of_ones(3, n, 0.5f, 2), dropout_of_ones(3, n, 0.5f, 2));
  EXPECT_NE(dropout_of_ones(3, n, 0.5f, 2), dropout_of_ones(4, n, 0.5f, 2));
  Context ctx(3);
  Variable x(Tensor::full({n}, 1.0f));
  EXPECT_NE(ops::dropout(ctx, x, 0.5f, true).data().to_vector(), ops::dropout(ctx, x, 0.5f, true).data().to_vector());
}

TEST(Dropout, MaskDoesNotDependOnThreadCount) {
  const int64_t n = 200003;  // large enough for the parallel path, not a multiple of 4
  EXPECT_EQ(dropout_of_ones(11, n, 0.5f, 1), dropout_of_ones(11, n, 0.5f, 2));
}

TEST(Dropout, IdentityInEvaluationAndForPZero) {
  Context ctx(1);
  Variable x(random_tensor({8, 16}, 2), true);
  EXPECT_EQ(ops::dropout(ctx, x, 0.5f, false).impl(), x.impl());
  EXPECT_EQ(ops::dropout(ctx, x, 0.0f, true).impl(), x.impl());
}

TEST(Dropout, GradientIsMaskTimesScale) {
  Context ctx(5);
  const float p = 0.25f;
  Variable x(random_tensor({16, 32}, 3, 0.5f, 1.0f), true);  // never zero, so y == 0 marks a dropped element
  Variable y = ops::dropout(ctx, x, p, true);
  Tensor dy = random_tensor(y.shape(), 4);
  y.backward(dy);
  std::vector<float> vx = x.data().to_vector(), vy = y.data().to_vector(), vdy = dy.to_vector(),
                     vdx = x.grad().to_vector();
  for (size_t i = 0; i < vx.size(); ++i) {
    const float mask = vy[i] == 0.0f ? 0.0f : 1.0f / (1.0f - p);
    ASSERT_EQ(vy[i], vx[i] * mask) << i;
    ASSERT_EQ(vdx[i], vdy[i] * mask) << i;
  }
  EXPECT_TRUE(check_op_gradients(
      [p](Context& c, const std::vector<Variable>& in) { return ops::dropout(c, in[0], p, true); },
      {random_tensor({6, 7}, 5)}));
}

TEST(Dropout, RejectsPOutsideZeroOne) {
  Context ctx;
  Variable x(Tensor::zeros({4}));
  EXPECT_THROW(ops::dropout(ctx, x, 1.0f, true), Error);
  EXPECT_THROW(ops::dropout(ctx, x, -0.1f, true), Error);
  EXPECT_THROW(ops::dropout(ctx, x, 1.0f, false), Error);
}

TEST(Dropout, OriginalFormKeepsUnscaledAndScalesAtEvaluation) {
  const float p = 0.3f;
  Context a(9), b(9);
  Variable x(random_tensor({8, 64}, 6, 0.5f, 1.0f), true);  // never zero
  std::vector<float> inv = ops::dropout(a, x, p, true).data().to_vector();
  Variable y = ops::dropout(b, x, p, true, ops::DropoutMode::original);
  std::vector<float> orig = y.data().to_vector(), vx = x.data().to_vector();
  for (size_t i = 0; i < vx.size(); ++i) {
    ASSERT_EQ(orig[i] != 0.0f, inv[i] != 0.0f) << i;  // same seed and stream: the same mask
    if (orig[i] != 0.0f) {
      ASSERT_EQ(orig[i], vx[i]) << i;  // no scaling in training
    }
  }
  std::vector<float> eval = ops::dropout(a, x, p, false, ops::DropoutMode::original).data().to_vector();
  for (size_t i = 0; i < vx.size(); ++i) ASSERT_FLOAT_EQ(eval[i], (1.0f - p) * vx[i]) << i;
  EXPECT_EQ(ops::dropout(a, x, 0.0f, false, ops::DropoutMode::original).impl(), x.impl());
  EXPECT_TRUE(check_op_gradients(
      [p](Context& c, const std::vector<Variable>& in) {
        return ops::dropout(c, in[0], p, true, ops::DropoutMode::original);
      },
      {random_tensor({6, 7}, 5)}));
}

// The lecture's argument: in both forms E_m[y_train] equals y_eval. Averaged over K masks the mean of
// each element has standard deviation |x| sqrt(p/(1-p)/K) (inverted) or |x| sqrt(p(1-p)/K) (original).
TEST(Dropout, BothFormsHaveTheEvaluationOutputAsExpectation) {
  const float p = 0.4f;
  const int K = 4000;
  const int64_t n = 64;
  Tensor xt = random_tensor({n}, 8, -2.0f, 2.0f);
  std::vector<float> vx = xt.to_vector();
  for (ops::DropoutMode mode : {ops::DropoutMode::inverted, ops::DropoutMode::original}) {
    nn::Dropout layer(p, mode);
    Context ctx(21);
    std::vector<double> mean(n, 0.0);
    for (int k = 0; k < K; ++k) {
      std::vector<float> y = layer.forward(ctx, Variable(xt)).data().to_vector();
      for (int64_t i = 0; i < n; ++i) mean[i] += y[i] / static_cast<double>(K);
    }
    layer.eval();
    std::vector<float> eval = layer.forward(ctx, Variable(xt)).data().to_vector();
    const double sd = mode == ops::DropoutMode::inverted ? std::sqrt(p / (1.0 - p) / K) : std::sqrt(p * (1.0 - p) / K);
    double max_z = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(mean[i], eval[i], 5.0 * sd * std::fabs(vx[i]) + 1e-6) << ops::dropout_mode_name(mode) << " " << i;
      max_z = std::max(max_z, std::fabs(mean[i] - eval[i]) / (sd * std::fabs(vx[i]) + 1e-12));
    }
    // and the two evaluation outputs differ (x vs (1-p) x), so the test can tell the forms apart
    if (mode == ops::DropoutMode::original) {
      EXPECT_NEAR(eval[0], (1.0f - p) * vx[0], 1e-6);
    } else {
      EXPECT_EQ(eval[0], vx[0]);
    }
    RecordProperty(ops::dropout_mode_name(mode), std::to_string(max_z));
  }
  // training a model in one form and evaluating it in the other is off by the factor 1-p
  Context ctx(22);
  nn::Dropout wrong(p, ops::DropoutMode::original);
  wrong.eval();
  EXPECT_GT(std::fabs(wrong.forward(ctx, Variable(xt)).data().to_vector()[1] - vx[1]), 0.1f * std::fabs(vx[1]));
}

TEST(Dropout, ModeNamesAndDescribe) {
  EXPECT_EQ(ops::dropout_mode_from_name("original"), ops::DropoutMode::original);
  EXPECT_EQ(ops::dropout_mode_from_name("inverted"), ops::DropoutMode::inverted);
  EXPECT_THROW(ops::dropout_mode_from_name("gaussian"), InputError);
  EXPECT_EQ(nn::Dropout(0.25f).describe(), "Dropout(p=0.25, inplace=False)");
  EXPECT_EQ(nn::Dropout(0.25f, ops::DropoutMode::original).describe(), "Dropout(p=0.25, inplace=False, mode=original)");
}
