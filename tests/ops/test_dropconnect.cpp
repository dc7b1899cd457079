// DropConnect op: the kept fraction of weights and the 1/(1-p) scale, one mask per call from a fresh
// stream (philox of seed, stream and index), the full weights at evaluation, the expectation over
// masks equal to the evaluation output (the inverted scaling's point), and the gradient of the masked
// linear layer with respect to input, weight and bias.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/ops/dropconnect.h"
#include "cvtrain/ops/linalg.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(DropConnect, KeepsOneMinusPOfTheWeightsAndScales) {
  const int64_t out = 512, in = 1024;
  for (float p : {0.2f, 0.5f}) {
    Context ctx(3);
    std::vector<float> w = ops::dropconnect(ctx, Variable(Tensor::full({out, in}, 1.0f)), p, true).data().to_vector();
    int64_t kept = 0;
    for (float v : w) {
      if (v != 0.0f) {
        ASSERT_EQ(v, 1.0f / (1.0f - p));
        ++kept;
      }
    }
    const double n = static_cast<double>(out * in), sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(kept / n, 1.0 - p, 6 * sd / n) << "p = " << p;
  }
}

TEST(DropConnect, MaskIsPhiloxOfSeedStreamAndIndexAndNewEachCall) {
  const float p = 0.3f;
  Context ctx(42);
  ctx.rng.next_stream();  // the op takes the next stream, whatever was drawn before
  Variable w(Tensor::full({7, 13}, 1.0f));
  std::vector<float> m1 = ops::dropconnect(ctx, w, p, true).data().to_vector();
  for (int64_t i = 0; i < 7 * 13; ++i) ASSERT_EQ(m1[i] != 0.0f, philox_uniform(42, 2, static_cast<uint64_t>(i)) >= p) << i;
  EXPECT_NE(m1, ops::dropconnect(ctx, w, p, true).data().to_vector());
}

TEST(DropConnect, FullWeightsAtEvaluationAndForPZero) {
  Context ctx(1);
  Variable w(random_tensor({8, 16}, 2), true), b(random_tensor({8}, 3), true), x(random_tensor({4, 16}, 4));
  EXPECT_EQ(ops::dropconnect(ctx, w, 0.5f, false).impl(), w.impl());
  EXPECT_EQ(ops::dropconnect(ctx, w, 0.0f, true).impl(), w.impl());
  const uint64_t before = Context(1).rng.next_stream();
  Context e(1);
  EXPECT_EQ(ops::dropconnect_linear(e, x, w, b, 0.5f, false).data().to_vector(),
            ops::linear(ctx, x, w, b).data().to_vector());
  EXPECT_EQ(e.rng.next_stream(), before);  // evaluation draws nothing
  EXPECT_THROW(ops::dropconnect(ctx, w, 1.0f, true), Error);
  EXPECT_THROW(ops::dropconnect(ctx, w, -0.1f, false), Error);
}

TEST(DropConnect, TrainingOutputHasTheEvaluationOutputAsExpectation) {
  // y = x (W*M/(1-p))^T + b: E_M[y] = x W^T + b. Mean of 3000 masks within 5 standard errors.
  const float p = 0.5f;
  const int masks = 3000;
  Variable x(random_tensor({3, 20}, 5)), w(random_tensor({6, 20}, 6)), b(random_tensor({6}, 7));
  Context ctx(8);
  std::vector<float> eval = ops::dropconnect_linear(ctx, x, w, b, p, false).data().to_vector();
  std::vector<double> sum(eval.size()), sum2(eval.size());
  for (int k = 0; k < masks; ++k) {
    std::vector<float> y = ops::dropconnect_linear(ctx, x, w, b, p, true).data().to_vector();
    for (size_t i = 0; i < y.size(); ++i) sum[i] += y[i], sum2[i] += static_cast<double>(y[i]) * y[i];
  }
  for (size_t i = 0; i < eval.size(); ++i) {
    const double mean = sum[i] / masks, var = sum2[i] / masks - mean * mean;
    EXPECT_NEAR(mean, eval[i], 5 * std::sqrt(var / masks) + 1e-6) << i;
    EXPECT_GT(var, 1e-3) << i;  // training really is random
  }
}

TEST(DropConnect, GradientCheck) {
  const float p = 0.4f;
  EXPECT_TRUE(check_op_gradients(
      [p](Context& c, const std::vector<Variable>& in) { return ops::dropconnect_linear(c, in[0], in[1], in[2], p, true); },
      {random_tensor({3, 5}, 1), random_tensor({4, 5}, 2), random_tensor({4}, 3)}));
  // and the weight gradient is the plain one times the mask: zero where a weight was dropped
  Context ctx(9);
  Variable x(random_tensor({3, 5}, 1), true), w(random_tensor({4, 5}, 2, 0.5f, 1.0f), true);
  Variable y = ops::dropconnect_linear(ctx, x, w, Variable(), p, true);
  y.backward(Tensor::full(y.shape(), 1.0f));
  Context again(9);
  std::vector<float> wm = ops::dropconnect(again, w, p, true).data().to_vector(), dw = w.grad().to_vector();
  for (size_t i = 0; i < wm.size(); ++i)
    if (wm[i] == 0.0f) EXPECT_EQ(dw[i], 0.0f) << i;
}
