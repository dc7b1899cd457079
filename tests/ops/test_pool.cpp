// Pooling ops: values recorded from PyTorch (tests/fixtures/pool.txt, record_normloss.py), the
// autograd wiring by finite differences, and the shape checks.
#include "common/testing.h"
#include "cvtrain/ops/pool.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

ops::Pool2dOptions options_of(const Tensor& opt) {  // (6): kernel h,w, stride h,w, padding h,w
  std::vector<float> v = opt.to_vector();
  auto i = [&](int k) { return static_cast<int64_t>(v[k]); };
  return {i(0), i(1), i(2), i(3), i(4), i(5)};
}

void check_against_pytorch(const std::string& name, bool is_max) {
  SCOPED_TRACE(name);
  auto f = load_fixture("pool");
  Context ctx;
  Variable x(f.at(name + "_x"), true);
  const ops::Pool2dOptions opt = options_of(f.at(name + "_opt"));
  Variable y = is_max ? ops::max_pool2d(ctx, x, opt) : ops::avg_pool2d(ctx, x, opt);
  EXPECT_TRUE(all_close(y.data(), f.at(name + "_y"), 1e-6f, 1e-5f));
  y.backward(f.at(name + "_dy"));
  EXPECT_TRUE(all_close(x.grad(), f.at(name + "_dx"), 1e-6f, 1e-5f));
}

}  // namespace

TEST(MaxPool2d, MatchesPyTorch) {
  for (const char* name : {"max_k2s2", "max_k3s2p1", "max_k3x2s1x2p1x0"}) check_against_pytorch(name, true);
}

TEST(AvgPool2d, MatchesPyTorch) {
  for (const char* name : {"avg_k2s2", "avg_k3s2p1", "avg_k2x3s1x2p0x1"}) check_against_pytorch(name, false);
}

TEST(GlobalAvgPool2d, MatchesPyTorch) {
  auto f = load_fixture("pool");
  Context ctx;
  Variable x(f.at("global_x"), true);
  Variable y = ops::global_avg_pool2d(ctx, x);
  EXPECT_TRUE(all_close(y.data(), f.at("global_y"), 1e-6f, 1e-5f));
  y.backward(f.at("global_dy"));
  EXPECT_TRUE(all_close(x.grad(), f.at("global_dx"), 1e-7f, 1e-5f));
}

TEST(MaxPool2d, GradientMatchesFiniteDifferences) {
  // Well-separated values (a permutation scaled by 0.1) so the +-eps steps never change an argmax.
  Tensor x = Tensor::empty({2, 2, 5, 6});
  Rng rng(5);
  std::vector<float> v(x.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * static_cast<float>(i);
  for (size_t i = v.size() - 1; i > 0; --i) std::swap(v[i], v[rng.below(i + 1)]);
  x = Tensor::from_vector(v, {2, 2, 5, 6});
  for (const ops::Pool2dOptions& opt : {ops::Pool2dOptions{}, ops::Pool2dOptions{3, 3, 2, 2, 1, 1},
                                        ops::Pool2dOptions{3, 2, 1, 2, 1, 0}})
    EXPECT_TRUE(check_op_gradients(
        [&](Context& c, const std::vector<Variable>& in) { return ops::max_pool2d(c, in[0], opt); }, {x}));
}

TEST(AvgPool2d, GradientMatchesFiniteDifferences) {
  Tensor x = random_tensor({2, 3, 5, 6}, 6);
  for (const ops::Pool2dOptions& opt : {ops::Pool2dOptions{}, ops::Pool2dOptions{3, 3, 2, 2, 1, 1},
                                        ops::Pool2dOptions{2, 3, 1, 2, 0, 1}})
    EXPECT_TRUE(check_op_gradients(
        [&](Context& c, const std::vector<Variable>& in) { return ops::avg_pool2d(c, in[0], opt); }, {x}));
}

TEST(GlobalAvgPool2d, GradientMatchesFiniteDifferences) {
  EXPECT_TRUE(check_op_gradients(
      [](Context& c, const std::vector<Variable>& in) { return ops::global_avg_pool2d(c, in[0]); },
      {random_tensor({2, 3, 4, 5}, 7)}));
}

TEST(MaxPool2d, AcceptsNonContiguousInput) {
  Context ctx;
  Tensor x = random_tensor({2, 4, 6, 3}, 8);
  Tensor xt = x.permute({0, 3, 1, 2});  // (2,3,4,6) view
  Variable a = ops::max_pool2d(ctx, Variable(xt), {});
  Variable b = ops::max_pool2d(ctx, Variable(xt.contiguous()), {});
  EXPECT_TRUE(all_close(a.data(), b.data(), 0, 0));
}

TEST(Pool2d, RejectsBadInput) {
  Context ctx;
  EXPECT_THROW(ops::max_pool2d(ctx, Variable(Tensor::zeros({4, 4})), {}), Error);
  EXPECT_THROW(ops::avg_pool2d(ctx, Variable(Tensor::zeros({1, 1, 1, 1})), {}), Error);  // kernel > input
  EXPECT_THROW(ops::max_pool2d(ctx, Variable(Tensor::zeros({1, 1, 4, 4})), {2, 2, 2, 2, 2, 0}), Error);
  EXPECT_THROW(ops::global_avg_pool2d(ctx, Variable(Tensor::zeros({2, 3}))), Error);
}
