// matmul and linear ops: values recorded from PyTorch (tests/fixtures/linear.txt, record_linear.py),
// the autograd wiring by finite differences, which gradients are computed, and the shape checks.
#include "common/testing.h"
#include "cvtrain/ops/linalg.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(Linear, MatchesPyTorch) {
  auto f = load_fixture("linear");
  Context ctx;
  Variable x(f.at("linear_x"), true), w(f.at("linear_w"), true), b(f.at("linear_b"), true);
  Variable y = ops::linear(ctx, x, w, b);
  EXPECT_TRUE(all_close(y.data(), f.at("linear_y"), 1e-6f, 1e-5f));
  y.backward(f.at("linear_dy"));
  EXPECT_TRUE(all_close(x.grad(), f.at("linear_dx"), 1e-6f, 1e-5f));
  EXPECT_TRUE(all_close(w.grad(), f.at("linear_dw"), 1e-6f, 1e-5f));
  EXPECT_TRUE(all_close(b.grad(), f.at("linear_db"), 1e-6f, 1e-5f));
}

TEST(Matmul, MatchesPyTorch) {
  auto f = load_fixture("linear");
  Context ctx;
  Variable a(f.at("matmul_a"), true), b(f.at("matmul_b"), true);
  Variable c = ops::matmul(ctx, a, b);
  EXPECT_TRUE(all_close(c.data(), f.at("matmul_c"), 1e-6f, 1e-5f));
  c.backward(f.at("matmul_dc"));
  EXPECT_TRUE(all_close(a.grad(), f.at("matmul_da"), 1e-6f, 1e-5f));
  EXPECT_TRUE(all_close(b.grad(), f.at("matmul_db"), 1e-6f, 1e-5f));
}

TEST(Linear, GradientMatchesFiniteDifferences) {
  auto with_bias = [](Context& c, const std::vector<Variable>& in) { return ops::linear(c, in[0], in[1], in[2]); };
  auto without = [](Context& c, const std::vector<Variable>& in) { return ops::linear(c, in[0], in[1], Variable()); };
  EXPECT_TRUE(check_op_gradients(with_bias, {random_tensor({4, 6}, 1), random_tensor({3, 6}, 2), random_tensor({3}, 3)}));
  EXPECT_TRUE(check_op_gradients(without, {random_tensor({1, 5}, 4), random_tensor({7, 5}, 5)}));
}

TEST(Matmul, GradientMatchesFiniteDifferences) {
  auto f = [](Context& c, const std::vector<Variable>& in) { return ops::matmul(c, in[0], in[1]); };
  EXPECT_TRUE(check_op_gradients(f, {random_tensor({3, 4}, 1), random_tensor({4, 5}, 2)}));
  EXPECT_TRUE(check_op_gradients(f, {random_tensor({1, 6}, 3), random_tensor({6, 1}, 4)}));
}

TEST(Linear, SkipsGradientsThatAreNotWanted) {
  Context ctx;
  Variable x(random_tensor({4, 3}, 1), false), w(random_tensor({2, 3}, 2), true), b(random_tensor({2}, 3), true);
  Variable y = ops::linear(ctx, x, w, b);
  y.backward(Tensor::full(y.shape(), 1.0f));
  EXPECT_FALSE(x.grad().defined());
  ASSERT_TRUE(w.grad().defined());
  EXPECT_TRUE(all_close(b.grad(), Tensor::full({2}, 4.0f)));

  // frozen weight, trained bias
  Variable x2(random_tensor({5, 3}, 4), true), w2(random_tensor({2, 3}, 5), false), b2(random_tensor({2}, 6), true);
  Variable y2 = ops::linear(ctx, x2, w2, b2);
  y2.backward(Tensor::full(y2.shape(), 2.0f));
  EXPECT_FALSE(w2.grad().defined());
  ASSERT_TRUE(x2.grad().defined());
  EXPECT_TRUE(all_close(b2.grad(), Tensor::full({2}, 10.0f)));
}

TEST(Matmul, AcceptsTransposedViews) {
  Context ctx;
  Tensor at = random_tensor({5, 3}, 1).permute({1, 0});  // (3,5) view
  Variable b(random_tensor({5, 2}, 2));
  Variable c1 = ops::matmul(ctx, Variable(at), b);
  Variable c2 = ops::matmul(ctx, Variable(at.contiguous()), b);
  EXPECT_TRUE(all_close(c1.data(), c2.data(), 0.0f, 0.0f));
}

TEST(Linalg, RejectsMismatchedShapes) {
  Context ctx;
  Variable a(Tensor::zeros({3, 4})), b(Tensor::zeros({5, 2}));
  EXPECT_THROW(ops::matmul(ctx, a, b), Error);
  EXPECT_THROW(ops::matmul(ctx, Variable(Tensor::zeros({2, 3, 4})), b), Error);
  EXPECT_THROW(ops::linear(ctx, a, Variable(Tensor::zeros({2, 5})), Variable()), Error);
  EXPECT_THROW(ops::linear(ctx, a, Variable(Tensor::zeros({2, 4})), Variable(Tensor::zeros({3}))), Error);
  try {
    ops::matmul(ctx, a, b);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matmul"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(3,4)"), std::string::npos) << e.what();
  }
}
