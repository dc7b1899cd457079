// L1 and elastic-net penalties in the optimizers: the updates on a tiny arena (a weight (2,3) with a
// zero entry, a bias (3)) against the formula computed here in double, independently of the
// optimizers' code (torch.optim has no L1). Also: biases excluded by decay_bias_and_norm = false,
// the zero padding kept at zero, and l1 < 0 refused.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/optim/optimizer.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

// Like weight_and_bias.h, but smaller and with signed nonzero starting values (and one zero) so that
// sign(w) matters.
class SignedWeightAndBias : public nn::Module {
 public:
  SignedWeightAndBias() : Module("SignedWeightAndBias") {
    weight = register_parameter("weight", Tensor::from_vector({0.5f, -0.25f, 0.0f, 1.5f, -2.0f, 0.125f}, {2, 3}));
    bias = register_parameter("bias", Tensor::from_vector({0.75f, -0.5f, 0.0f}, {3}));
  }
  Variable forward(Context&, const Variable& x) override { return x; }
  Variable weight, bias;
};

Tensor grad_of(const Variable& v) { return v.grad(); }

const std::vector<float> kGw = {0.1f, 0.2f, -0.3f, 0.0f, 0.05f, -0.1f};
const std::vector<float> kGb = {0.2f, -0.1f, 0.3f};

double sgn(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

// Two SGD steps with momentum mu (b_1 = g_1, b_2 = mu b_1 + g_2), the same gradient both times,
// g = grad + lambda theta + lambda_1 sign(theta) on the penalized entries.
std::vector<double> expected_sgd(std::vector<double> theta, const std::vector<float>& grad, bool penalized,
                                 double lr, double mu, double lambda, double lambda1) {
  std::vector<double> b(theta.size());
  for (int step = 0; step < 2; ++step) {
    for (size_t i = 0; i < theta.size(); ++i) {
      double g = grad[i];
      if (penalized) g += lambda * theta[i] + lambda1 * sgn(theta[i]);
      b[i] = step == 0 ? g : mu * b[i] + g;
      theta[i] -= lr * b[i];
    }
  }
  return theta;
}

void check_close(const Tensor& got, const std::vector<double>& want, const char* what) {
  std::vector<float> g = got.to_vector();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-6) << what << "[" << i << "]";
}

std::vector<double> initial(const Variable& v) {
  std::vector<float> f = v.data().to_vector();
  return {f.begin(), f.end()};
}

void run_sgd(float l1, float wd, bool decay_bias) {
  SignedWeightAndBias m;
  const std::vector<double> w0 = initial(m.weight), b0 = initial(m.bias);
  nn::ParameterArena arena(m);
  optim::OptimOptions o;
  o.name = "sgd";
  o.l1 = l1;
  o.weight_decay = wd;
  o.momentum = 0.9f;
  o.nesterov = false;
  o.decay_bias_and_norm = decay_bias;
  auto opt = optim::make_optimizer(arena, o);
  for (int step = 0; step < 2; ++step) {
    arena.zero_grad();
    grad_of(m.weight).copy_(Tensor::from_vector(kGw, {2, 3}));
    grad_of(m.bias).copy_(Tensor::from_vector(kGb, {3}));
    opt->step(0.1f, 0.9f);
  }
  check_close(m.weight.data(), expected_sgd(w0, kGw, true, 0.1, 0.9, wd, l1), "weight");
  check_close(m.bias.data(), expected_sgd(b0, kGb, decay_bias, 0.1, 0.9, wd, l1), "bias");
  ASSERT_EQ(arena.entries()[1].offset, 16);  // weight (6 floats) padded to kAlign = 16
  for (int i = 6; i < 16; ++i) EXPECT_EQ(arena.data()[i], 0.0f);
}

}  // namespace

TEST(Penalties, SgdL1) { run_sgd(0.05f, 0.0f, true); }
TEST(Penalties, SgdElasticNet) { run_sgd(0.05f, 0.2f, true); }
TEST(Penalties, SgdElasticNetSparesBiases) { run_sgd(0.05f, 0.2f, false); }

TEST(Penalties, L1ChangesTheUpdate) {
  // the test above can fail: with l1 the weights differ from plain SGD's by lr * l1 * sign(w) at step 1
  SignedWeightAndBias a, b;
  nn::ParameterArena arena_a(a), arena_b(b);
  optim::OptimOptions o;
  o.name = "sgd";
  o.weight_decay = 0, o.nesterov = false;
  auto plain = optim::make_optimizer(arena_a, o);
  o.l1 = 0.05f;
  auto l1 = optim::make_optimizer(arena_b, o);
  for (auto* p : {&arena_a, &arena_b}) p->zero_grad();
  grad_of(a.weight).copy_(Tensor::from_vector(kGw, {2, 3}));
  grad_of(b.weight).copy_(Tensor::from_vector(kGw, {2, 3}));
  plain->step(0.1f, 0.0f);
  l1->step(0.1f, 0.0f);
  std::vector<float> wa = a.weight.data().to_vector(), wb = b.weight.data().to_vector();
  const std::vector<float> w0 = {0.5f, -0.25f, 0.0f, 1.5f, -2.0f, 0.125f};
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_NEAR(wa[i] - wb[i], 0.1 * 0.05 * sgn(w0[i]), 1e-6) << i;
}

TEST(Penalties, AdamAndAdamWFirstStep) {
  // Adam's first step is theta - lr * g / (|g| + eps) (bias corrections cancel); L1 is in g for both,
  // and AdamW decouples only the L2 part: theta (1 - lr lambda) - lr g / (|g| + eps).
  for (bool decoupled : {false, true}) {
    SignedWeightAndBias m;
    const std::vector<double> w0 = initial(m.weight);
    nn::ParameterArena arena(m);
    optim::OptimOptions o;
    o.name = decoupled ? "adamw" : "adam";
    o.l1 = 0.05f;
    o.weight_decay = 0.2f;
    o.eps = 1e-8f;
    auto opt = optim::make_optimizer(arena, o);
    arena.zero_grad();
    grad_of(m.weight).copy_(Tensor::from_vector(kGw, {2, 3}));
    opt->step(0.01f, 0.9f);
    std::vector<double> want(w0.size());
    for (size_t i = 0; i < w0.size(); ++i) {
      // the strengths as the f32 the optimizer holds (at w = -2, g = 0.05 - l1 is exactly 0 for adamw)
      const double l1 = 0.05f, wd = 0.2f, lr = 0.01f;
      double g = kGw[i] + l1 * sgn(w0[i]) + (decoupled ? 0.0 : wd * w0[i]);
      double base = decoupled ? w0[i] * (1.0 - lr * wd) : w0[i];
      want[i] = base - lr * g / (std::fabs(g) + 1e-8);
    }
    check_close(m.weight.data(), want, decoupled ? "adamw weight" : "adam weight");
  }
}

TEST(Penalties, NegativeL1IsRefused) {
  SignedWeightAndBias m;
  nn::ParameterArena arena(m);
  optim::OptimOptions o;
  o.l1 = -0.1f;
  EXPECT_THROW(optim::make_optimizer(arena, o), InputError);
}
