// Adam, AdamW, RMSprop and Adagrad against torch.optim: six steps with a changing lr (and, where
// marked, a cycled beta1/momentum) on a weight (3,4) and a bias (4) with given gradients
// (tests/fixtures/adaptive.txt, record_optim.py); weight decay withheld from the bias group and a
// bias lr multiplier; the registry and its errors; the padding of the arena stays zero.
#include "common/testing.h"
#include "cvtrain/nn/arena.h"
#include "optim/weight_and_bias.h"
#include "cvtrain/optim/adaptive.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

void run_case(const std::string& name, const std::string& c) {
  static const auto fx = load_fixture("adaptive");
  auto get = [&](const std::string& key) {
    auto it = fx.find(c + "." + key);
    EXPECT_TRUE(it != fx.end()) << "fixture adaptive lacks " << c << "." << key;
    return it->second;
  };
  // weight_decay beta1 beta2 eps alpha momentum centered lr_decay initial_acc decay_bias bias_mult
  std::vector<float> o = get("options").to_vector();
  optim::OptimOptions opt;
  opt.name = name;
  opt.weight_decay = o[0];
  opt.beta1 = o[1];
  opt.beta2 = o[2];
  opt.eps = o[3];
  opt.alpha = o[4];
  opt.momentum = o[5];
  opt.centered = o[6] != 0.0f;
  opt.lr_decay = o[7];
  opt.initial_accumulator = o[8];
  opt.decay_bias_and_norm = o[9] != 0.0f;
  opt.bias_lr_mult = o[10];

  WeightAndBias m;
  m.load_state_dict({{"weight", get("w0")}, {"bias", get("b0")}});
  nn::ParameterArena arena(m);
  auto optimizer = optim::make_optimizer(arena, opt);
  std::vector<float> lr = get("lr").to_vector(), mom = get("momentum").to_vector();
  for (size_t k = 0; k < lr.size(); ++k) {
    arena.zero_grad();
    grad_of(m.weight).copy_(get(detail::concat("gw", k)));
    grad_of(m.bias).copy_(get(detail::concat("gb", k)));
    optimizer->step(lr[k], mom[k]);
    EXPECT_TRUE(all_close(m.weight.data(), get(detail::concat("w", k + 1)), 1e-6f, 1e-5f)) << c << " step " << k;
    EXPECT_TRUE(all_close(m.bias.data(), get(detail::concat("b", k + 1)), 1e-6f, 1e-5f)) << c << " step " << k;
  }
  ASSERT_EQ(arena.entries()[1].offset, 16);
  for (int i = 12; i < 16; ++i) EXPECT_EQ(arena.data()[i], 0.0f) << c;
  // every named state buffer is empty or one float per arena float
  for (auto& [key, buf] : optimizer->state().buffers)
    EXPECT_TRUE(buf->empty() || static_cast<int64_t>(buf->size()) == arena.size()) << c << " " << key;
}

}  // namespace

TEST(Adam, Plain) { run_case("adam", "adam"); }
TEST(Adam, WeightDecayAndCycledBeta1) { run_case("adam", "adam_wd_cycled"); }
TEST(AdamW, DecoupledWeightDecay) { run_case("adamw", "adamw"); }
TEST(AdamW, NoDecayOnBiasAndBiasLrMultiplier) { run_case("adamw", "adamw_nobias_mult"); }
TEST(RMSprop, Plain) { run_case("rmsprop", "rmsprop"); }
TEST(RMSprop, MomentumCenteredWeightDecay) { run_case("rmsprop", "rmsprop_momentum_centered_wd"); }
TEST(Adagrad, Plain) { run_case("adagrad", "adagrad"); }
TEST(Adagrad, LrDecayInitialAccumulatorGroups) { run_case("adagrad", "adagrad_decay_init_wd"); }

TEST(Optimizers, RegistryAndErrors) {
  std::vector<std::string> names;
  for (const auto& e : optim::optimizer_registry()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"sgd", "adam", "adamw", "rmsprop", "adagrad", "lars", "lamb"}));
  WeightAndBias m;
  nn::ParameterArena arena(m);
  optim::OptimOptions o;
  o.name = "adamax";
  try {
    optim::make_optimizer(arena, o);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "optim.name: unknown optimizer 'adamax' (known: sgd, adam, adamw, rmsprop, adagrad, lars, lamb)");
  }
  o.name = "adam";
  o.beta2 = 1.0f;
  EXPECT_THROW(optim::make_optimizer(arena, o), InputError);
  o.beta2 = 0.999f;
  o.eps = 0.0f;
  EXPECT_THROW(optim::make_optimizer(arena, o), InputError);
  o.name = "rmsprop";
  o.eps = -1.0f;
  o.alpha = 1.5f;
  EXPECT_THROW(optim::make_optimizer(arena, o), InputError);
}

TEST(Optimizers, ParamGroupsSplitBiasFromWeights) {
  WeightAndBias m;
  nn::ParameterArena arena(m);
  optim::OptimOptions o;
  o.weight_decay = 0.1f;
  EXPECT_EQ(optim::param_groups(arena, o).size(), 1u);  // one group when nothing differs
  o.decay_bias_and_norm = false;
  auto g = optim::param_groups(arena, o);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].begin, 0);
  EXPECT_EQ(g[0].end, 16);
  EXPECT_EQ(g[0].weight_decay, 0.1f);
  EXPECT_EQ(g[1].begin, 16);
  EXPECT_EQ(g[1].weight_decay, 0.0f);
}
