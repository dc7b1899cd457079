// conv2d op: values recorded from PyTorch (tests/fixtures/conv2d.txt, record_conv.py), the autograd
// wiring by finite differences, which gradients are computed, and the shape checks.
#include "common/testing.h"
#include "cvtrain/ops/conv.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

// opt: (8) stride h,w, padding h,w, dilation h,w, groups, has_bias
ops::Conv2dOptions options_of(const Tensor& opt) {
  std::vector<float> v = opt.to_vector();
  auto i = [&](int k) { return static_cast<int64_t>(v[k]); };
  return {i(0), i(1), i(2), i(3), i(4), i(5), i(6)};
}

void check_against_pytorch(const std::string& name) {
  SCOPED_TRACE(name);
  auto f = load_fixture("conv2d");
  const bool has_bias = f.at(name + "_opt").to_vector()[7] != 0.0f;
  Context ctx;
  Variable x(f.at(name + "_x"), true), w(f.at(name + "_w"), true);
  Variable b = has_bias ? Variable(f.at(name + "_b"), true) : Variable();
  Variable y = ops::conv2d(ctx, x, w, b, options_of(f.at(name + "_opt")));
  EXPECT_TRUE(all_close(y.data(), f.at(name + "_y"), 1e-5f, 1e-5f));
  y.backward(f.at(name + "_dy"));
  EXPECT_TRUE(all_close(x.grad(), f.at(name + "_dx"), 1e-5f, 1e-5f));
  EXPECT_TRUE(all_close(w.grad(), f.at(name + "_dw"), 1e-5f, 1e-5f));
  if (has_bias) {
    EXPECT_TRUE(all_close(b.grad(), f.at(name + "_db"), 1e-5f, 1e-5f));
  }
}

}  // namespace

TEST(Conv2d, MatchesPyTorch) {
  for (const char* name : {"basic", "strided_grouped", "dilated_nobias", "depthwise"}) check_against_pytorch(name);
}

TEST(Conv2d, GradientMatchesFiniteDifferences) {
  struct Case {
    Shape x, w;
    bool bias;
    ops::Conv2dOptions opt;
  };
  const std::vector<Case> cases = {
      {{2, 3, 5, 5}, {4, 3, 3, 3}, true, {}},
      {{1, 2, 6, 5}, {3, 2, 3, 3}, true, {2, 2, 1, 1, 1, 1, 1}},
      {{1, 4, 5, 6}, {4, 2, 3, 2}, true, {1, 2, 1, 0, 1, 1, 2}},
      {{1, 2, 7, 7}, {2, 2, 3, 3}, false, {1, 1, 2, 2, 2, 2, 1}},
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    std::vector<Tensor> inputs{random_tensor(c.x, seed++), random_tensor(c.w, seed++)};
    if (c.bias) inputs.push_back(random_tensor({c.w[0]}, seed++));
    EXPECT_TRUE(check_op_gradients(
        [&](Context& ctx, const std::vector<Variable>& in) {
          return ops::conv2d(ctx, in[0], in[1], c.bias ? in[2] : Variable(), c.opt);
        },
        inputs));
  }
}

TEST(Conv2d, SkipsTheInputGradientOfData) {
  // the first layer's input is data: only the weight and bias get gradients
  Context ctx;
  Variable x(random_tensor({2, 1, 6, 6}, 1), false);
  Variable w(random_tensor({4, 1, 3, 3}, 2), true), b(random_tensor({4}, 3), true);
  Variable y = ops::conv2d(ctx, x, w, b, {1, 1, 1, 1, 1, 1, 1});
  y.backward(Tensor::full(y.shape(), 1.0f));
  EXPECT_FALSE(x.grad().defined());
  ASSERT_TRUE(w.grad().defined());
  ASSERT_TRUE(b.grad().defined());
  // dy = 1: db is the number of output positions, 2 * 6 * 6
  EXPECT_TRUE(all_close(b.grad(), Tensor::full({4}, 72.0f)));
}

TEST(Conv2d, FrozenWeightWithTrainedBias) {
  Context ctx;
  Variable x(random_tensor({2, 3, 5, 5}, 1), true);
  Variable w(random_tensor({4, 3, 3, 3}, 2), false), b(random_tensor({4}, 3), true);
  Variable y = ops::conv2d(ctx, x, w, b, {});
  y.backward(Tensor::full(y.shape(), 0.5f));
  EXPECT_FALSE(w.grad().defined());
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(all_close(b.grad(), Tensor::full({4}, 0.5f * 2 * 3 * 3)));
}

TEST(Conv2d, NoGraphUnderNoGrad) {
  Context ctx;
  Variable x(random_tensor({1, 2, 4, 4}, 1), true), w(random_tensor({3, 2, 3, 3}, 2), true);
  NoGradGuard guard(ctx);
  Variable y = ops::conv2d(ctx, x, w, Variable(), {});
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.shape(), (Shape{1, 3, 2, 2}));
}

TEST(Conv2d, AcceptsNonContiguousInput) {
  Context ctx;
  Tensor xt = random_tensor({2, 5, 5, 3}, 1).permute({0, 3, 1, 2});  // (2,3,5,5) view, channels last in memory
  Variable w(random_tensor({4, 3, 3, 3}, 2));
  Variable y1 = ops::conv2d(ctx, Variable(xt), w, Variable(), {});
  Variable y2 = ops::conv2d(ctx, Variable(xt.contiguous()), w, Variable(), {});
  EXPECT_TRUE(all_close(y1.data(), y2.data(), 0.0f, 0.0f));
}

TEST(Conv2d, RejectsMismatchedShapes) {
  Context ctx;
  Variable x(Tensor::zeros({1, 3, 8, 8})), w(Tensor::zeros({4, 3, 3, 3}));
  EXPECT_THROW(ops::conv2d(ctx, Variable(Tensor::zeros({3, 8, 8})), w, Variable(), {}), Error);   // 3-D input
  EXPECT_THROW(ops::conv2d(ctx, x, Variable(Tensor::zeros({4, 2, 3, 3})), Variable(), {}), Error);  // channels
  EXPECT_THROW(ops::conv2d(ctx, x, w, Variable(Tensor::zeros({5})), {}), Error);                    // bias size
  EXPECT_THROW(ops::conv2d(ctx, x, w, Variable(), {1, 1, 0, 0, 1, 1, 2}), Error);  // 3 channels in 2 groups
  EXPECT_THROW(ops::conv2d(ctx, x, Variable(Tensor::zeros({4, 3, 9, 9})), Variable(), {}), Error);  // kernel > input
  try {
    ops::conv2d(ctx, x, Variable(Tensor::zeros({4, 2, 3, 3})), Variable(), {});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(4,2,3,3)"), std::string::npos) << e.what();
  }
}
