// SGD against torch.optim.SGD: six steps with changing lr and momentum on a weight (3,4) and a bias
// (4) with given gradients (tests/fixtures/sgd.txt, record_optim.py), for plain SGD, weight decay,
// Nesterov, dampening, and weight decay withheld from the bias.
#include "common/testing.h"
#include "cvtrain/nn/arena.h"
#include "optim/weight_and_bias.h"
#include "cvtrain/optim/sgd.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

void run_case(const std::string& c) {
  static const auto fx = load_fixture("sgd");
  auto get = [&](const std::string& key) {
    auto it = fx.find(c + "." + key);
    EXPECT_TRUE(it != fx.end()) << "fixture sgd lacks " << c << "." << key;
    return it->second;
  };
  std::vector<float> o = get("options").to_vector();  // momentum scale, dampening, wd, nesterov, decay bias
  optim::OptimOptions opt;
  opt.dampening = o[1];
  opt.weight_decay = o[2];
  opt.nesterov = o[3] != 0.0f;
  opt.decay_bias_and_norm = o[4] != 0.0f;

  WeightAndBias m;
  m.load_state_dict({{"weight", get("w0")}, {"bias", get("b0")}});
  nn::ParameterArena arena(m);
  optim::SGD sgd(arena, opt);
  std::vector<float> lr = get("lr").to_vector(), mom = get("momentum").to_vector();
  for (size_t k = 0; k < lr.size(); ++k) {
    arena.zero_grad();
    grad_of(m.weight).copy_(get(detail::concat("gw", k)));
    grad_of(m.bias).copy_(get(detail::concat("gb", k)));
    sgd.step(lr[k], mom[k]);
    EXPECT_TRUE(all_close(m.weight.data(), get(detail::concat("w", k + 1)), 1e-6f, 1e-5f)) << c << " step " << k;
    EXPECT_TRUE(all_close(m.bias.data(), get(detail::concat("b", k + 1)), 1e-6f, 1e-5f)) << c << " step " << k;
  }
  EXPECT_EQ(sgd.momentum_buffer.empty(), o[0] == 0.0f) << c;
  // the padding between weight (12 floats) and bias (at 16) stays zero
  ASSERT_EQ(arena.entries()[1].offset, 16);
  for (int i = 12; i < 16; ++i) EXPECT_EQ(arena.data()[i], 0.0f);
}

}  // namespace

TEST(SGD, Plain) { run_case("plain"); }
TEST(SGD, PlainWithWeightDecay) { run_case("plain_wd"); }
TEST(SGD, NesterovWithWeightDecay) { run_case("nesterov_wd"); }
TEST(SGD, DampeningWithWeightDecay) { run_case("dampening_wd"); }
TEST(SGD, NoWeightDecayOnBias) { run_case("nesterov_wd_nobias"); }

// torch.optim.SGD's defaults: no momentum, weight decay or Nesterov (the program's differ).
optim::OptimOptions torch_defaults() {
  optim::OptimOptions o;
  o.momentum = 0, o.weight_decay = 0, o.nesterov = false;
  return o;
}

TEST(SGD, FirstStepSetsBufferToGradient) {
  WeightAndBias m;
  nn::ParameterArena arena(m);
  optim::SGD sgd(arena, torch_defaults());
  grad_of(m.weight).fill_(2.0f);
  sgd.step(0.1f, 0.0f);  // momentum 0: no buffer yet
  EXPECT_TRUE(sgd.momentum_buffer.empty());
  sgd.step(0.1f, 0.9f);  // b_1 = g_1, theta -= lr * b_1
  ASSERT_EQ(static_cast<int64_t>(sgd.momentum_buffer.size()), arena.size());
  EXPECT_EQ(sgd.momentum_buffer[0], 2.0f);
  EXPECT_FLOAT_EQ(m.weight.data().to_vector()[0], -0.4f);
  sgd.step(0.1f, 0.9f);  // b_2 = 0.9*2 + 2
  EXPECT_FLOAT_EQ(sgd.momentum_buffer[0], 3.8f);
}

TEST(SGD, BadOptionsAreInputErrors) {
  WeightAndBias m;
  nn::ParameterArena arena(m);
  optim::OptimOptions opt = torch_defaults();
  opt.nesterov = true;
  opt.dampening = 0.1f;
  EXPECT_THROW(optim::SGD(arena, opt), InputError);
  opt.dampening = 0.0f;
  optim::SGD sgd(arena, opt);
  EXPECT_THROW(sgd.step(0.1f, 0.0f), InputError);  // Nesterov without momentum
}

TEST(SGD, StepWithoutMomentumArgumentUsesOptions) {
  WeightAndBias a, b;
  nn::ParameterArena arena_a(a), arena_b(b);
  optim::OptimOptions opt = torch_defaults();
  opt.momentum = 0.8f;
  optim::SGD sa(arena_a, opt), sb(arena_b, torch_defaults());
  for (int k = 0; k < 3; ++k) {
    grad_of(a.weight).fill_(1.0f + k);
    grad_of(b.weight).fill_(1.0f + k);
    sa.step(0.1f);
    sb.step(0.1f, 0.8f);
  }
  EXPECT_TRUE(all_close(a.weight.data(), b.weight.data(), 0, 0));
}
