// Diagnostics: the statistics of known layers (a tanh net at std 0.01 shrinks, at std 0.05
// saturates; ReLU with kaiming keeps its scale), the gradient taps against autograd, no side
// effects on the model, the warnings, the JSON fields, and the PNG charts of viz/ (which share
// this test binary: viz has no tensors).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/train/diagnostics.h"
#include "cvtrain/viz/plot.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

std::shared_ptr<nn::Module> deep_mlp(const std::string& act, const std::string& init, double scale, int64_t width = 256) {
  Rng rng(0);
  nn::ModelSpec spec{"deep_mlp"};
  spec.depth = 6;
  spec.hidden_width = width;
  spec.activation.name = act;
  spec.init.scheme = init;
  spec.init.scale = scale;
  return nn::build_model(spec, rng);
}

std::vector<std::pair<Tensor, Tensor>> batches(int64_t n = 2, int64_t N = 64) {
  std::vector<std::pair<Tensor, Tensor>> out;
  Rng rng(9);
  for (int64_t b = 0; b < n; ++b) {
    Tensor x = Tensor::empty({N, 1, 28, 28}), y = Tensor::empty({N}, DType::i64);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = rng.normal();
    for (int64_t i = 0; i < N; ++i) y.data<int64_t>()[i] = static_cast<int64_t>(rng.below(10));
    out.push_back({x, y});
  }
  return out;
}

std::vector<const LayerDiagnostics*> of_type(const DiagnosticsReport& r, const std::string& type) {
  std::vector<const LayerDiagnostics*> v;
  for (const auto& l : r.layers)
    if (l.type == type) v.push_back(&l);
  return v;
}

bool has_warning(const DiagnosticsReport& r, const std::string& text) {
  for (const auto& w : r.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

std::string tmp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cvtrain_diag_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace

TEST(Diagnostics, TanhSmallInitShrinksLayerAfterLayer) {
  auto m = deep_mlp("tanh", "normal", 0.01);  // per layer the std scales by about 0.01 * sqrt(256) = 0.16
  Context ctx;
  DiagnosticsReport r = diagnose(ctx, *m, batches(), {});
  auto t = of_type(r, "Tanh");
  ASSERT_EQ(t.size(), 6u);
  EXPECT_NEAR(t[0]->act_std, 0.01 * 28, 0.03);  // 784 unit-variance inputs
  for (size_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t[i]->act_std / t[i - 1]->act_std, 0.16, 0.03) << i;
  EXPECT_TRUE(has_warning(r, "vanishing signal"));
  EXPECT_FALSE(has_warning(r, "saturation"));
  EXPECT_EQ(r.batches, 2);
  EXPECT_EQ(r.images, 128);
  EXPECT_NEAR(r.loss, std::log(10.0), 0.01);  // tiny logits: uniform predictions
}

TEST(Diagnostics, TanhLargeInitSaturates) {
  auto m = deep_mlp("tanh", "normal", 0.2);  // 0.2 * sqrt(256) = 3.2 per layer
  Context ctx;
  DiagnosticsReport r = diagnose(ctx, *m, batches(), {});
  auto t = of_type(r, "Tanh");
  EXPECT_GT(t.back()->frac_saturated, 0.3);
  EXPECT_TRUE(has_warning(r, "saturation: net."));
  EXPECT_FALSE(has_warning(r, "vanishing signal"));
  // the histogram piles up in the end bins of [-1, 1]
  const auto& h = t.back()->hist;
  EXPECT_DOUBLE_EQ(h.edges.front(), -1.0);
  EXPECT_DOUBLE_EQ(h.edges.back(), 1.0);
  EXPECT_GT(h.counts.front() + h.counts.back(), 0.3 * 128 * 256);
}

TEST(Diagnostics, ReluKaimingKeepsScaleXavierHalvesVariance) {
  Context ctx;
  DiagnosticsReport k = diagnose(ctx, *deep_mlp("relu", "kaiming_normal", 0), batches(), {});
  DiagnosticsReport x = diagnose(ctx, *deep_mlp("relu", "xavier_normal", 0), batches(), {});
  auto rk = of_type(k, "ReLU"), rx = of_type(x, "ReLU");
  ASSERT_EQ(rk.size(), 6u);
  EXPECT_GT(rk.back()->act_std / rk[1]->act_std, 0.6);
  EXPECT_LT(rk.back()->act_std / rk[1]->act_std, 1.6);
  EXPECT_LT(rx.back()->act_std / rx[1]->act_std, 0.4);  // about 0.707^4 = 0.25
  EXPECT_NEAR(rk[2]->frac_zero, 0.5, 0.1);
  EXPECT_FALSE(has_warning(k, "vanishing signal"));
  EXPECT_TRUE(has_warning(x, "vanishing signal"));
}

TEST(Diagnostics, GradientTapsMatchAutogradAndModelIsUntouched) {
  Rng rng(1);
  nn::ModelSpec spec{"cnn"};
  auto m = nn::build_model(spec, rng);
  auto before = m->state_dict();
  std::vector<std::vector<float>> saved;
  for (auto& [name, t] : before)
    if (t.dtype() == DType::f32) saved.push_back(t.to_vector());
  Context ctx(3);
  const Rng rng_before = ctx.rng;
  auto data = batches(1, 8);
  DiagnosticsOptions opt;
  opt.lr = 0.1, opt.momentum = 0.9, opt.nesterov = true;
  DiagnosticsReport r = diagnose(ctx, *m, data, opt);
  // weights, BatchNorm statistics and the rng are as before; gradients are left at zero
  size_t k = 0;
  for (auto& [name, t] : m->state_dict())
    if (t.dtype() == DType::f32) {
      EXPECT_EQ(t.to_vector(), saved[k++]) << name;
    }
  EXPECT_EQ(ctx.rng.uniform(), Rng(rng_before).uniform());
  for (auto& [name, v] : m->named_parameters())
    if (v->grad().defined()) {
      EXPECT_EQ(v->grad().to_vector(), std::vector<float>(v->numel(), 0.0f)) << name;
    }
  // the first conv's weight gradient from a plain backward (dropout draws from the same rng state)
  Context ctx2(3);
  Variable loss = ops::cross_entropy(ctx2, m->forward(ctx2, Variable(data[0].first)), data[0].second);
  loss.backward();
  std::vector<float> g = m->named_parameters()[0].second->grad().to_vector();
  double gss = 0, ws = 0;
  for (float v : g) gss += double(v) * v;
  for (float v : m->named_parameters()[0].second->data().to_vector()) ws += double(v) * v;
  const ParamDiagnostics& p = r.params[0];
  EXPECT_EQ(p.name, "net.0.weight");
  EXPECT_NEAR(p.grad_norm, std::sqrt(gss), 1e-4 * std::sqrt(gss));
  EXPECT_NEAR(p.update_ratio, 0.1 * 1.9 * std::sqrt(gss) / std::sqrt(ws), 1e-3 * p.update_ratio);
  EXPECT_NEAR(r.loss, loss.item(), 1e-5);
  // the gradient at the logits: (softmax - onehot) / N has mean 0
  EXPECT_NEAR(r.layers.back().grad_mean, 0.0, 1e-7);
  EXPECT_GT(r.layers.back().grad_std, 0.0);
}

TEST(Diagnostics, NonFiniteAndZeroWeightsAreWarned) {
  Context ctx;
  DiagnosticsReport big = diagnose(ctx, *deep_mlp("relu", "normal", 1e6, 64), batches(1, 8), {});
  EXPECT_TRUE(has_warning(big, "NaN or inf") || has_warning(big, "exploding")) << big.warnings.size();
  DiagnosticsReport zero = diagnose(ctx, *deep_mlp("relu", "zeros", 0, 16), batches(1, 8), {});
  EXPECT_TRUE(has_warning(zero, "all weights are zero"));
  EXPECT_TRUE(has_warning(zero, "dead ReLUs"));
}

TEST(Diagnostics, JsonHasTheDocumentedFieldsAndPicturesAreWritten) {
  Context ctx;
  DiagnosticsReport r = diagnose(ctx, *deep_mlp("tanh", "xavier_normal", 0, 32), batches(1, 16), {});
  auto j = nlohmann::json::parse(diagnostics_json(r));
  ASSERT_EQ(j["layers"].size(), r.layers.size());
  for (const auto& l : j["layers"]) {
    for (const char* key : {"name", "act_mean", "act_std", "frac_zero", "frac_saturated", "grad_std", "hist"})
      EXPECT_TRUE(l.contains(key)) << key;
    EXPECT_EQ(l["hist"]["edges"].size(), l["hist"]["counts"].size() + 1);
  }
  EXPECT_TRUE(j["warnings"].is_array());
  auto line = nlohmann::json::parse(diagnostics_line(r, 7));
  EXPECT_EQ(line["step"], 7);
  const std::string dir = tmp_dir("json");
  write_diagnostics(r, dir, "test");
  for (const char* f : {"diagnostics.json", "activations.png", "gradients.png"}) {
    std::ifstream in(dir + "/" + f, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    EXPECT_TRUE(in.good()) << f;
    if (std::string(f).ends_with(".png")) {
      EXPECT_EQ(std::string(magic + 1, 3), "PNG") << f;
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(Viz, ChartsAreWrittenAndBadPathsNamed) {
  const std::string dir = tmp_dir("viz");
  viz::Series a{"loss", {0, 1, 2, 3}, {2.3, 1.0, 0.5, NAN}}, b{"lr", {0, 1, 2, 3}, {0.1, 0.05, 0.01, 0.001}};
  viz::line_chart_png(dir + "/line.png", "curves", "step", "value", {a, b});
  viz::line_chart_png(dir + "/log.png", "lr", "step", "lr", {b}, true);
  viz::histogram_grid_png(dir + "/hist.png", "h", {{"one", {0, 1, 2}, {3, 4}}, {"two\nsecond line", {-1, 1}, {5}}});
  for (const char* f : {"line.png", "log.png", "hist.png"})
    EXPECT_GT(std::filesystem::file_size(dir + "/" + f), 1000u) << f;
  try {
    viz::line_chart_png(dir + "/no/such/folder/x.png", "t", "x", "y", {a});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/folder/x.png"), std::string::npos);
  }
  EXPECT_THROW(viz::histogram_grid_png(dir + "/bad.png", "t", {{"x", {0, 1}, {1, 2}}}), Error);
  std::filesystem::remove_all(dir);
}

TEST(Viz, NiceTicksAreRoundAndInside) {
  auto u = viz::nice_ticks(0, 1, 5);  // step 0.2
  ASSERT_EQ(u.size(), 6u);
  for (size_t i = 0; i < u.size(); ++i) EXPECT_NEAR(u[i], 0.2 * double(i), 1e-12);
  auto t = viz::nice_ticks(-0.37, 2.9, 5);  // raw step 0.65 rounds up to 1
  EXPECT_EQ(t, (std::vector<double>{0, 1, 2}));
  EXPECT_GE(viz::nice_ticks(-4.7e-4, 4.7e-4, 3).size(), 3u);  // +-5e-4 would leave only 0 inside
  EXPECT_EQ(viz::tick_label(0), "0");
  EXPECT_EQ(viz::tick_label(0.25), "0.25");
  EXPECT_EQ(viz::tick_label(40000), "40000");
  EXPECT_EQ(viz::tick_label(1e-5), "1e-05");
}
