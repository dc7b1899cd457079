// Initializers: the gain table against torch.nn.init.calculate_gain, fans of linear and grouped
// conv weights, sample statistics of each scheme on large tensors (mean, std, bounds), orthogonality,
// and the model-wide schemes of model.init (weights re-drawn, biases zeroed, others untouched).
#include <cmath>

#include "common/testing.h"
#include "cvtrain/nn/init.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/zoo.h"

using namespace cvtrain;
using namespace cvtrain::nn;

namespace {

struct Moments {
  double mean, std, lo, hi;
};
Moments moments(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  double s = 0, ss = 0, lo = INFINITY, hi = -INFINITY;
  for (float x : v) s += x, ss += double(x) * x, lo = std::min(lo, double(x)), hi = std::max(hi, double(x));
  const double n = double(v.size()), m = s / n;
  return {m, std::sqrt(ss / n - m * m), lo, hi};
}

}  // namespace

TEST(InitGain, MatchesPyTorchTable) {
  // torch.nn.init.calculate_gain
  EXPECT_DOUBLE_EQ(init::calculate_gain("linear"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("conv2d"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("sigmoid"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_NEAR(init::calculate_gain("leaky_relu"), 1.4141428569978354, 1e-12);  // default slope 0.01
  EXPECT_NEAR(init::calculate_gain("leaky_relu", 0.2), 1.3867504905630728, 1e-12);
  EXPECT_DOUBLE_EQ(init::calculate_gain("selu"), 0.75);
  EXPECT_THROW(init::calculate_gain("softplus"), InputError);
  // model.activation -> kaiming's gain
  EXPECT_DOUBLE_EQ(init::activation_gain("relu", 0.01), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::activation_gain("tanh", 0.01), 5.0 / 3.0);
  EXPECT_NEAR(init::activation_gain("prelu", 0.25), std::sqrt(2.0 / (1 + 0.0625)), 1e-12);
  EXPECT_DOUBLE_EQ(init::activation_gain("selu", 0.01), 1.0);
}

TEST(InitFan, ConvCountsInputChannelsPerGroupTimesKernel) {
  EXPECT_EQ(init::fan_in({64, 32, 3, 3}), 32 * 9);
  EXPECT_EQ(init::fan_out({64, 32, 3, 3}), 64 * 9);
  EXPECT_EQ(init::fan_in({64, 8, 5, 3}), 8 * 15);  // a grouped conv's weight holds C/groups = 8
  EXPECT_EQ(init::fan_in({10, 784}), 784);
  EXPECT_EQ(init::fan_out({10, 784}), 10);
  Rng rng(0);
  Conv2d conv(rng, Conv2dOptions(32, 64, 3).padding(1).groups(4).bias(false));
  EXPECT_EQ(init::fan_in(conv.weight.shape()), 8 * 9);
}

TEST(InitStatistics, EachSchemeHasItsMeanAndStd) {
  Rng rng(1);
  const Shape s{256, 128, 3, 3};  // fan_in 1152, fan_out 2304, 294912 values
  const double fi = 128 * 9, fo = 256 * 9;
  Tensor w = Tensor::empty(s);
  auto expect = [&](double std, double bound, const char* what) {
    Moments m = moments(w);
    EXPECT_NEAR(m.mean, 0.0, 4 * std / std::sqrt(double(w.numel()))) << what;
    EXPECT_NEAR(m.std, std, 0.01 * std) << what;
    if (bound > 0) {
      EXPECT_GE(m.lo, -bound) << what;
      EXPECT_LE(m.hi, bound) << what;
      EXPECT_GT(m.hi, 0.99 * bound) << what;
    }
  };
  init::normal_(w, 0.0f, 0.01f, rng);
  expect(0.01, 0, "normal 0.01");
  init::uniform_(w, -0.5f, 0.5f, rng);
  expect(0.5 / std::sqrt(3.0), 0.5, "uniform");
  init::xavier_normal_(w, 1.0, rng);
  expect(std::sqrt(2.0 / (fi + fo)), 0, "xavier_normal");
  init::xavier_uniform_(w, 2.0, rng);
  expect(2.0 * std::sqrt(2.0 / (fi + fo)), 2.0 * std::sqrt(6.0 / (fi + fo)), "xavier_uniform gain 2");
  init::kaiming_normal_(w, init::FanMode::fan_in, std::sqrt(2.0), rng);
  expect(std::sqrt(2.0 / fi), 0, "kaiming_normal fan_in");
  init::kaiming_normal_(w, init::FanMode::fan_out, std::sqrt(2.0), rng);
  expect(std::sqrt(2.0 / fo), 0, "kaiming_normal fan_out");
  init::kaiming_uniform_(w, init::FanMode::fan_in, std::sqrt(2.0), rng);
  expect(std::sqrt(2.0 / fi), std::sqrt(6.0 / fi), "kaiming_uniform fan_in");
  init::lecun_normal_(w, rng);
  expect(std::sqrt(1.0 / fi), 0, "lecun_normal");
  init::kaiming_uniform_(w, std::sqrt(5.0), rng);  // PyTorch's layer default: U(+-1/sqrt(fan_in))
  expect(1.0 / std::sqrt(3.0 * fi), 1.0 / std::sqrt(fi), "pytorch default");
  init::constant_(w, 0.5f);
  EXPECT_EQ(moments(w).lo, 0.5);
  init::zeros_(w);
  EXPECT_EQ(moments(w).hi, 0.0);
}

TEST(InitOrthogonal, RowsOrColumnsAreOrthonormal) {
  Rng rng(2);
  for (Shape s : {Shape{20, 50}, Shape{50, 20}, Shape{8, 2, 3, 3}}) {
    Tensor w = Tensor::empty(s);
    init::orthogonal_(w, 2.0, rng);
    const int64_t rows = s[0], cols = w.numel() / rows;
    std::vector<float> v = w.to_vector();
    // the smaller side: W W^T = g^2 I (rows <= cols) or W^T W = g^2 I
    const bool by_rows = rows <= cols;
    const int64_t k = by_rows ? rows : cols, m = by_rows ? cols : rows;
    auto at = [&](int64_t vec, int64_t i) { return by_rows ? v[vec * cols + i] : v[i * cols + vec]; };
    for (int64_t a = 0; a < k; ++a)
      for (int64_t b = 0; b < k; ++b) {
        double d = 0;
        for (int64_t i = 0; i < m; ++i) d += double(at(a, i)) * at(b, i);
        EXPECT_NEAR(d, a == b ? 4.0 : 0.0, 1e-4) << shape_str(s) << " " << a << "," << b;
      }
  }
}

TEST(InitModel, SchemesRedrawWeightsZeroBiasesAndKeepOthers) {
  auto build = [](const std::string& scheme) {
    Rng rng(5);
    ModelSpec spec{"cnn"};
    spec.init.scheme = scheme;
    spec.init.scale = 0.05;
    return build_model(spec, rng);
  };
  auto base = build("pytorch");
  for (const char* scheme : {"normal", "kaiming_normal", "xavier_uniform", "orthogonal", "lecun_normal"}) {
    SCOPED_TRACE(scheme);
    auto m = build(scheme);
    auto sa = base->state_dict(), sb = m->state_dict();
    ASSERT_EQ(sa.size(), sb.size());
    for (size_t i = 0; i < sa.size(); ++i) {
      const std::string& name = sa[i].first;
      if (sa[i].second.dtype() != DType::f32) continue;  // num_batches_tracked
      const bool redrawn = sa[i].second.dim() >= 2;
      const bool bias = name.size() > 4 && name.substr(name.size() - 4) == "bias" && name != "net.1.bias" &&
                        name != "net.5.bias";  // BatchNorm's biases stay
      if (redrawn) { EXPECT_NE(sa[i].second.to_vector(), sb[i].second.to_vector()) << name; }
      else if (bias) { EXPECT_EQ(moments(sb[i].second).hi, 0.0) << name; }
      else { EXPECT_EQ(sa[i].second.to_vector(), sb[i].second.to_vector()) << name; }
    }
  }
  // normal 0.05: the first conv's weights have that std
  auto m = build("normal");
  EXPECT_NEAR(moments(m->named_parameters()[0].second->data()).std, 0.05, 0.01);
  // kaiming with the activation's gain: the fc 3136 -> 128 layer gets std sqrt(2/3136)
  Rng rng(5);
  ModelSpec spec{"cnn"};
  spec.init.scheme = "kaiming_normal";
  auto k = build_model(spec, rng);
  for (auto& [name, v] : k->named_parameters())
    if (name == "net.9.weight") { EXPECT_NEAR(moments(v->data()).std, std::sqrt(2.0 / 3136), 0.02 * std::sqrt(2.0 / 3136)); }
}

TEST(InitModel, UnknownSchemeOrModeIsAnInputError) {
  Rng rng(0);
  ModelSpec spec{"mlp"};
  spec.init.scheme = "he";
  try {
    build_model(spec, rng);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.init: unknown scheme 'he'"), std::string::npos);
  }
  spec.init.scheme = "kaiming_normal";
  spec.init.mode = "fan_both";
  EXPECT_THROW(build_model(spec, rng), InputError);
}

TEST(InitModel, PerLayerOverridesTakeTheLongestPrefix) {
  Rng rng(0);
  ModelSpec spec{"mlp"};
  spec.init.scheme = "normal";
  spec.init.scale = 0.5;
  spec.init.overrides = {{"net.4", "constant:0.25"}, {"net", "zeros"}, {"net.7", "pytorch"}};
  auto m = build_model(spec, rng);
  for (auto& [name, v] : m->named_parameters()) {
    Moments mo = moments(v->data());
    if (name == "net.4.weight") { EXPECT_EQ(mo.lo, 0.25) << name; }                       // net.4 beats net
    if (name == "net.1.weight") { EXPECT_EQ(mo.hi, 0.0) << name; }                        // net
    if (name == "net.7.weight") { EXPECT_LT(mo.hi, 1.0 / std::sqrt(256.0) + 1e-6) << name; }  // PyTorch's
    if (name == "net.7.bias") { EXPECT_NE(mo.hi, 0.0) << name; }                          // kept as built
  }
  spec.init.overrides = {{"net.99", "zeros"}};
  EXPECT_THROW(build_model(spec, rng), InputError);
  spec.init.overrides = {{"net.1", "he"}};
  EXPECT_THROW(build_model(spec, rng), InputError);
  spec.init.overrides = {{"net.1", "normal:abc"}};
  EXPECT_THROW(build_model(spec, rng), InputError);
}
