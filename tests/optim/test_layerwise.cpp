// LARS and LAMB against their updates written in torch as timm computes them: six steps with a
// changing lr (and, where marked, a cycled momentum/beta1) on w1 (3,4), b1 (4) and w2 (2,5) at ~30x
// w1's norm (tests/fixtures/layerwise.txt, record_layerwise.py); that the trust ratio scales each
// layer's step by its own norms; that a zero-norm tensor takes the plain momentum-SGD / Adam step.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/optim/layerwise.h"
#include "optim/weight_and_bias.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

class ThreeTensors : public nn::Module {
 public:
  ThreeTensors() : Module("ThreeTensors") {
    w1 = register_parameter("w1", Tensor::zeros({3, 4}));
    b1 = register_parameter("b1", Tensor::zeros({4}));
    w2 = register_parameter("w2", Tensor::zeros({2, 5}));
  }
  Variable forward(Context&, const Variable& x) override { return x; }
  Variable w1, b1, w2;
  std::vector<Variable*> all() { return {&w1, &b1, &w2}; }
};

void run_case(const std::string& name, const std::string& c) {
  static const auto fx = load_fixture("layerwise");
  auto get = [&](const std::string& key) {
    auto it = fx.find(c + "." + key);
    EXPECT_TRUE(it != fx.end()) << "fixture layerwise lacks " << c << "." << key;
    return it->second;
  };
  // weight_decay momentum/beta1 trust_coefficient beta2 eps l1 decay_bias_and_norm bias_lr_mult
  std::vector<float> o = get("options").to_vector();
  optim::OptimOptions opt;
  opt.name = name;
  opt.weight_decay = o[0];
  opt.momentum = o[1];
  opt.beta1 = o[1];
  if (name == "lars") opt.trust_coefficient = o[2];
  opt.beta2 = o[3];
  opt.eps = o[4];
  opt.l1 = o[5];
  opt.decay_bias_and_norm = o[6] != 0.0f;
  opt.bias_lr_mult = o[7];

  ThreeTensors m;
  m.load_state_dict({{"w1", get("p0_0")}, {"b1", get("p1_0")}, {"w2", get("p2_0")}});
  nn::ParameterArena arena(m);
  auto optimizer = optim::make_optimizer(arena, opt);
  std::vector<float> lr = get("lr").to_vector(), mom = get("momentum").to_vector();
  for (size_t k = 0; k < lr.size(); ++k) {
    arena.zero_grad();
    for (size_t j = 0; j < 3; ++j) grad_of(*m.all()[j]).copy_(get(detail::concat("g", j, "_", k)));
    optimizer->step(lr[k], mom[k]);
    for (size_t j = 0; j < 3; ++j)
      EXPECT_TRUE(all_close(m.all()[j]->data(), get(detail::concat("p", j, "_", k + 1)), 1e-6f, 1e-5f))
          << c << " tensor " << j << " step " << k;
  }
  for (const auto& e : arena.entries())  // the padding after each entry stays zero
    for (int64_t i = e.offset + e.numel; i < e.offset + (e.numel + 15) / 16 * 16 && i < arena.size(); ++i)
      EXPECT_EQ(arena.data()[i], 0.0f) << c << " padding of " << e.name;
  for (auto& [key, buf] : optimizer->state().buffers)
    EXPECT_TRUE(buf->empty() || static_cast<int64_t>(buf->size()) == arena.size()) << c << " " << key;
}

double norm(const Tensor& t) {
  double s = 0;
  for (float x : t.to_vector()) s += double(x) * x;
  return std::sqrt(s);
}
double distance(const Tensor& a, const Tensor& b) {  // ||a - b||
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
  return std::sqrt(s);
}

// Two weights of norms ~1 and ~100 with gradients of equal norm; one step from zero state.
struct TwoLayers {
  TwoLayers() {
    m.load_state_dict({{"weight", Tensor::from_vector({0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.6f, -0.1f, 0.2f, 0.3f,
                                                       -0.5f, 0.4f, -0.3f}, {3, 4})},
                       {"bias", Tensor::from_vector({40.0f, -60.0f, 50.0f, -30.0f}, {4})}});
  }
  void set_grads(nn::ParameterArena& arena) {
    arena.zero_grad();
    grad_of(m.weight).copy_(Tensor::from_vector({0.1f, 0.2f, -0.1f, 0.3f, -0.2f, 0.1f, 0.2f, -0.3f, 0.1f, 0.2f,
                                                 -0.1f, 0.1f}, {3, 4}));
    grad_of(m.bias).copy_(Tensor::from_vector({0.3f, -0.2f, 0.2f, -0.1f}, {4}));
  }
  WeightAndBias m;
};

}  // namespace

TEST(LARS, MomentumWeightDecayCycledMomentum) { run_case("lars", "lars"); }
TEST(LARS, NoDecayNorRatioOnBiasAndBiasLrMultiplier) { run_case("lars", "lars_nobias"); }
TEST(LARS, NoMomentumNoDecayL1) { run_case("lars", "lars_plain_wd0_l1"); }
TEST(LAMB, WeightDecayCycledBeta1) { run_case("lamb", "lamb"); }
TEST(LAMB, NoDecayNorRatioOnBiasAndBiasLrMultiplier) { run_case("lamb", "lamb_nobias"); }
TEST(LAMB, NoDecayL1) { run_case("lamb", "lamb_wd0_l1"); }

// LARS, first step, no momentum or decay: ||dw|| = lr eta ||w|| (||g|| / (||g|| + eps)) per layer,
// so a layer 100x heavier moves 100x further; plain SGD moves both by lr ||g||.
TEST(LARS, TrustRatioScalesEachLayer) {
  TwoLayers t;
  const double w_norm0 = norm(t.m.weight.data()), w_norm1 = norm(t.m.bias.data());
  const Tensor w0 = t.m.weight.data().clone(), b0 = t.m.bias.data().clone();
  nn::ParameterArena arena(t.m);
  optim::OptimOptions o;
  o.name = "lars";
  o.momentum = 0.0;
  o.weight_decay = 0.0;
  o.trust_coefficient = 0.01;
  auto opt = optim::make_optimizer(arena, o);
  t.set_grads(arena);
  const float lr = 2.0f;
  opt->step(lr, 0.0f);
  const double step0 = distance(t.m.weight.data(), w0), step1 = distance(t.m.bias.data(), b0);
  EXPECT_NEAR(step0, lr * 0.01 * w_norm0, 1e-6 * lr * w_norm0);
  EXPECT_NEAR(step1, lr * 0.01 * w_norm1, 1e-6 * lr * w_norm1);
  EXPECT_GT(step1 / step0, 50.0);  // the heavier layer takes the larger step: the ratio is per layer
}

// LAMB, first step, no decay: r = m^/(sqrt(v^) + eps) ~ sign(g), so ||dw|| = lr ||w|| per layer.
TEST(LAMB, TrustRatioScalesEachLayer) {
  TwoLayers t;
  const double w_norm0 = norm(t.m.weight.data()), w_norm1 = norm(t.m.bias.data());
  const Tensor w0 = t.m.weight.data().clone(), b0 = t.m.bias.data().clone();
  nn::ParameterArena arena(t.m);
  optim::OptimOptions o;
  o.name = "lamb";
  o.weight_decay = 0.0;
  auto opt = optim::make_optimizer(arena, o);
  t.set_grads(arena);
  const float lr = 0.01f;
  opt->step(lr, 0.9f);
  EXPECT_NEAR(distance(t.m.weight.data(), w0), lr * w_norm0, 1e-5 * lr * w_norm0);
  EXPECT_NEAR(distance(t.m.bias.data(), b0), lr * w_norm1, 1e-5 * lr * w_norm1);
}

// A tensor of norm 0 (a zero-initialized bias) has trust ratio 1: its step is momentum SGD's
// (lars; heavy ball, no Nesterov) or Adam's (lamb) while the weight beside it is adapted. With lars,
// a zero gradient gives ratio 1 too: the weight then takes SGD's decay step.
TEST(LayerWise, ZeroNormTensorTakesThePlainStep) {
  for (const std::string name : {"lars", "lamb"}) {
    for (const bool zero_weight_grad : {false, true}) {
      if (name == "lamb" && zero_weight_grad) continue;  // lamb's ratio is on r, which is lambda w then
      WeightAndBias a, b;  // a: lars/lamb, b: the plain optimizer; biases start at zero
      const Tensor w =
          Tensor::from_vector({0.5f, -1.f, 2.f, 0.25f, 1.f, -0.5f, 0.75f, -2.f, 1.5f, -0.25f, 0.5f, 1.f}, {3, 4});
      a.load_state_dict({{"weight", w}}, false);
      b.load_state_dict({{"weight", w}}, false);
      nn::ParameterArena arena_a(a), arena_b(b);
      optim::OptimOptions o;
      o.name = name;
      o.weight_decay = 0.01;
      o.trust_coefficient = 0.02;
      auto adapted = optim::make_optimizer(arena_a, o);
      o.name = name == "lars" ? "sgd" : "adam";
      o.nesterov = false;
      auto plain = optim::make_optimizer(arena_b, o);
      const Tensor gw = zero_weight_grad ? Tensor::zeros({3, 4})
                                         : Tensor::from_vector({0.1f, 0.2f, -0.1f, 0.3f, -0.2f, 0.1f, 0.2f, -0.3f,
                                                                0.1f, 0.2f, -0.1f, 0.1f}, {3, 4});
      const Tensor gb = Tensor::from_vector({0.3f, -0.2f, 0.2f, -0.1f}, {4});
      for (auto* m : {&a, &b}) grad_of(m->weight).copy_(gw), grad_of(m->bias).copy_(gb);
      const float lr = name == "lars" ? 0.5f : 0.01f;
      adapted->step(lr, 0.9f);
      plain->step(lr, 0.9f);
      EXPECT_GT(norm(a.bias.data()), 1e-3) << name;
      EXPECT_TRUE(all_close(a.bias.data(), b.bias.data(), 1e-7f, 1e-6f)) << name;
      if (zero_weight_grad)
        EXPECT_TRUE(all_close(a.weight.data(), b.weight.data(), 1e-7f, 1e-6f)) << name << ": zero gradient";
      else
        EXPECT_FALSE(all_close(a.weight.data(), b.weight.data(), 1e-4f, 1e-3f)) << name << ": the weight is adapted";
    }
  }
}

TEST(LayerWise, OptionsAndDevice) {
  WeightAndBias m;
  nn::ParameterArena arena(m);
  optim::OptimOptions o;
  o.name = "lars";
  o.trust_coefficient = 0.0;
  EXPECT_THROW(optim::make_optimizer(arena, o), InputError);
  o.trust_coefficient = 0.001;
  EXPECT_NO_THROW(optim::make_optimizer(arena, o));
  try {
    optim::check_runs_on_cuda("lamb", true);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "optim.name: lamb runs on the CPU only so far; with device: cuda use sgd, adam, adamw");
  }
  EXPECT_NO_THROW(optim::check_runs_on_cuda("adamw", true));
  EXPECT_NO_THROW(optim::check_runs_on_cuda("lars", false));
}
