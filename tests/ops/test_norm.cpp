// Batch norm op: training forward/backward, running statistics after two steps and evaluation, all
// against values recorded from PyTorch (tests/fixtures/batch_norm.txt, record_normloss.py); the
// autograd wiring by finite differences; and the argument checks.
#include "common/testing.h"
#include "cvtrain/ops/norm.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

void check_against_pytorch(const std::string& p, float momentum) {
  SCOPED_TRACE(p);
  auto f = load_fixture("batch_norm");
  Context ctx;
  Variable x(f.at(p + "x1"), true), w(f.at(p + "weight"), true), b(f.at(p + "bias"), true);
  Tensor rm = f.at(p + "running_mean0").clone(), rv = f.at(p + "running_var0").clone();
  ops::BatchNormOptions opt;
  opt.momentum = momentum;
  Variable y = ops::batch_norm(ctx, x, w, b, rm, rv, opt);
  EXPECT_TRUE(all_close(y.data(), f.at(p + "y1"), 1e-5f, 1e-4f));
  EXPECT_TRUE(all_close(rm, f.at(p + "running_mean1"), 1e-6f, 1e-5f));
  EXPECT_TRUE(all_close(rv, f.at(p + "running_var1"), 1e-6f, 1e-5f));
  y.backward(f.at(p + "dy"));
  EXPECT_TRUE(all_close(x.grad(), f.at(p + "dx1"), 1e-5f, 1e-3f));
  EXPECT_TRUE(all_close(w.grad(), f.at(p + "dweight"), 1e-5f, 1e-4f));
  EXPECT_TRUE(all_close(b.grad(), f.at(p + "dbias"), 1e-5f, 1e-4f));

  {  // second step, without a graph: the running statistics move all the same
    NoGradGuard no_grad(ctx);
    ops::batch_norm(ctx, Variable(f.at(p + "x2")), w, b, rm, rv, opt);
  }
  EXPECT_TRUE(all_close(rm, f.at(p + "running_mean2"), 1e-6f, 1e-5f));
  EXPECT_TRUE(all_close(rv, f.at(p + "running_var2"), 1e-6f, 1e-5f));

  opt.training = false;
  Variable xe(f.at(p + "x_eval"), true), we(f.at(p + "weight"), true), be(f.at(p + "bias"), true);
  Tensor rm_before = rm.clone(), rv_before = rv.clone();
  Variable ye = ops::batch_norm(ctx, xe, we, be, rm, rv, opt);
  EXPECT_TRUE(all_close(ye.data(), f.at(p + "y_eval"), 1e-5f, 1e-4f));
  EXPECT_TRUE(all_close(rm, rm_before, 0, 0)) << "evaluation must not touch the running statistics";
  EXPECT_TRUE(all_close(rv, rv_before, 0, 0));
  ye.backward(f.at(p + "dy"));
  EXPECT_TRUE(all_close(xe.grad(), f.at(p + "dx_eval"), 1e-5f, 1e-4f));
  EXPECT_TRUE(all_close(we.grad(), f.at(p + "dweight_eval"), 1e-5f, 1e-4f));
  EXPECT_TRUE(all_close(be.grad(), f.at(p + "dbias_eval"), 1e-5f, 1e-4f));
}

std::function<Variable(Context&, const std::vector<Variable>&)> bn_fn(int64_t C, bool training, bool affine) {
  return [C, training, affine](Context& c, const std::vector<Variable>& in) {
    // Fresh running statistics per call: each call updates them in place.
    Tensor rm = random_tensor({C}, 40), rv = random_tensor({C}, 41, 0.5f, 2.0f);
    ops::BatchNormOptions opt;
    opt.training = training;
    return affine ? ops::batch_norm(c, in[0], in[1], in[2], rm, rv, opt)
                  : ops::batch_norm(c, in[0], Variable(), Variable(), rm, rv, opt);
  };
}

}  // namespace

TEST(BatchNorm, NCHWMatchesPyTorch) {
  auto f = load_fixture("batch_norm");
  check_against_pytorch("nchw_", f.at("momentum").to_vector()[0]);
}

TEST(BatchNorm, NCMatchesPyTorch) {
  auto f = load_fixture("batch_norm");
  check_against_pytorch("nc_", f.at("momentum").to_vector()[1]);
}

TEST(BatchNorm, TrainingGradientMatchesFiniteDifferences) {
  // Finite differences in f32 through the batch statistics need a larger step and tolerance.
  const int64_t C = 3;
  Tensor x = random_tensor({4, C, 3, 2}, 1, -1.0f, 2.0f), w = random_tensor({C}, 2, 0.5f, 1.5f),
         b = random_tensor({C}, 3);
  EXPECT_TRUE(check_op_gradients(bn_fn(C, true, true), {x, w, b}, 1e-2f, 5e-3f, 3e-2f));
  EXPECT_TRUE(check_op_gradients(bn_fn(C, true, false), {x}, 1e-2f, 5e-3f, 3e-2f));
  EXPECT_TRUE(check_op_gradients(bn_fn(5, true, true),
                                 {random_tensor({6, 5}, 4), random_tensor({5}, 5), random_tensor({5}, 6)}, 1e-2f, 5e-3f,
                                 3e-2f));
}

TEST(BatchNorm, EvalGradientMatchesFiniteDifferences) {
  const int64_t C = 3;
  Tensor x = random_tensor({4, C, 3, 2}, 7), w = random_tensor({C}, 8, 0.5f, 1.5f), b = random_tensor({C}, 9);
  EXPECT_TRUE(check_op_gradients(bn_fn(C, false, true), {x, w, b}));
  EXPECT_TRUE(check_op_gradients(bn_fn(C, false, false), {x}));
}

TEST(BatchNorm, NormalizesToZeroMeanUnitVariance) {
  Context ctx;
  const int64_t N = 64, C = 4, H = 5, W = 5;
  Tensor x = random_tensor({N, C, H, W}, 10, 50.0f, 54.0f);  // far from zero
  Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0f);
  std::vector<float> y = ops::batch_norm(ctx, Variable(x), Variable(), Variable(), rm, rv, {}).data().to_vector();
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, s2 = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < H * W; ++i) {
        double v = y[(n * C + c) * H * W + i];
        s += v, s2 += v * v;
      }
    const double M = N * H * W;
    EXPECT_NEAR(s / M, 0.0, 1e-4);
    EXPECT_NEAR(s2 / M, 1.0, 1e-3);
  }
}

TEST(BatchNorm, RejectsBadInput) {
  Context ctx;
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0f), none;
  ops::BatchNormOptions eval;
  eval.training = false;
  EXPECT_THROW(ops::batch_norm(ctx, Variable(Tensor::zeros({2, 3, 4})), {}, {}, rm, rv, {}), Error);  // 3-D
  EXPECT_THROW(ops::batch_norm(ctx, Variable(Tensor::zeros({2, 4, 2, 2})), {}, {}, rm, rv, {}), Error);  // C
  EXPECT_THROW(ops::batch_norm(ctx, Variable(Tensor::zeros({2, 3})), Variable(Tensor::zeros({4})), {}, rm, rv, {}),
               Error);
  EXPECT_THROW(ops::batch_norm(ctx, Variable(Tensor::zeros({1, 3})), {}, {}, rm, rv, {}), Error);  // 1 value/channel
  EXPECT_THROW(ops::batch_norm(ctx, Variable(Tensor::zeros({2, 3})), {}, {}, none, none, eval), Error);
  // Training without running statistics is allowed (track_running_stats=False).
  EXPECT_NO_THROW(ops::batch_norm(ctx, Variable(Tensor::zeros({2, 3})), {}, {}, none, none, {}));
}
