// Diagnostics: statistics gathered by running the model's layers one at a time, with an identity
// "tap" op after each layer whose backward records the gradient arriving at that layer's output.
// Moments are summed in double over every batch; histogram edges are fixed by the first batch
// (later values outside them count in the end bins).
#include "cvtrain/train/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "cvtrain/base/files.h"
#include "cvtrain/nn/activations.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/viz/plot.h"

namespace cvtrain {

namespace {

// Running statistics of one stream of values (a layer's outputs, or the gradients at them).
struct Accumulator {
  double sum = 0, sumsq = 0, n = 0, zeros = 0, saturated = 0, nonfinite = 0;
  double lo = INFINITY, hi = -INFINITY;
  HistogramCounts hist;
  std::vector<uint8_t> alive;  // per unit (per-sample position): nonzero for some sample so far

  // values: (N, per) contiguous; saturation: 0 none, 1 tanh, 2 sigmoid; range: 0 data, 1 [-1,1],
  // 2 [0,1], 3 symmetric about 0
  void add(const float* v, int64_t N, int64_t per, int saturation, int range, int64_t bins, bool track_units) {
    const int64_t total = N * per;
    if (hist.edges.empty()) {  // the first batch fixes the bins
      double a = INFINITY, b = -INFINITY;
      for (int64_t i = 0; i < total; ++i)
        if (std::isfinite(v[i])) a = std::min(a, double(v[i])), b = std::max(b, double(v[i]));
      if (!(a <= b)) a = -1, b = 1;
      if (range == 1) a = -1, b = 1;
      if (range == 2) a = 0, b = 1;
      if (range == 3) b = std::max(std::abs(a), std::abs(b)), a = -b;
      if (a == b) a -= 1e-3 + std::abs(a) * 0.1, b += 1e-3 + std::abs(b) * 0.1;
      hist.edges.resize(bins + 1);
      for (int64_t i = 0; i <= bins; ++i) hist.edges[i] = a + (b - a) * double(i) / double(bins);
      hist.counts.assign(bins, 0.0);
      if (track_units) alive.assign(per, 0);
    }
    const double a = hist.edges.front(), b = hist.edges.back(), scale = double(bins) / (b - a);
    for (int64_t i = 0; i < total; ++i) {
      const double x = v[i];
      if (!std::isfinite(x)) {
        ++nonfinite;
        continue;
      }
      sum += x, sumsq += x * x, ++n;
      lo = std::min(lo, x), hi = std::max(hi, x);
      if (x == 0.0) ++zeros;
      if ((saturation == 1 && std::abs(x) > 0.99) || (saturation == 2 && (x < 0.01 || x > 0.99))) ++saturated;
      const int64_t k = std::clamp<int64_t>(static_cast<int64_t>((x - a) * scale), 0, bins - 1);
      hist.counts[k] += 1;
      if (!alive.empty() && x != 0.0) alive[i % per] = 1;
    }
  }
  double count() const { return n + nonfinite; }
  double mean() const { return n > 0 ? sum / n : 0.0; }
  double std() const { return n > 0 ? std::sqrt(std::max(0.0, sumsq / n - mean() * mean())) : 0.0; }
};

struct LayerSlot {
  std::string name, type;
  Shape shape;
  Accumulator act, grad;
};

int saturation_kind(const std::string& type) { return type == "Tanh" ? 1 : type == "Sigmoid" ? 2 : 0; }
int range_kind(const std::string& type) { return type == "Tanh" ? 1 : type == "Sigmoid" ? 2 : 0; }

// The identity whose backward records the gradient arriving at `y`.
Variable tap(Context& ctx, const Variable& y, LayerSlot* slot, int64_t bins) {
  return record(ctx, "diagnostics_tap", y.data(), {y}, [slot, bins](const Tensor& dy) -> Grads {
    Tensor g = dy.contiguous();
    const int64_t N = g.dim() > 0 ? g.size(0) : 1;
    slot->grad.add(g.data<float>(), N, g.numel() / std::max<int64_t>(N, 1), 0, 3, bins, false);
    return {dy};
  });
}

void zero_grads(nn::Module& model) {
  for (auto& [name, v] : model.named_parameters())
    if (Tensor g = v->grad(); g.defined()) g.fill_(0.0f);  // a view: writes the shared buffer
}

double norm_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s);
}

nlohmann::json hist_json(const HistogramCounts& h) { return {{"edges", h.edges}, {"counts", h.counts}}; }

// JSON has no NaN or inf: those become null.
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

DiagnosticsOptions diagnostics_options(const RunConfig& cfg) {
  DiagnosticsOptions opt;
  opt.lr = cfg.schedule.lr, opt.momentum = cfg.optim.momentum, opt.weight_decay = cfg.optim.weight_decay;
  opt.nesterov = cfg.optim.nesterov;
  opt.label_smoothing = static_cast<float>(cfg.train.label_smoothing);
  return opt;
}

namespace {

// The layers to walk: the zoo's models keep them in one Sequential child.
std::vector<std::pair<std::string, nn::Module*>> layers_of(nn::Module& model) {
  std::vector<std::pair<std::string, nn::Module*>> layers;
  nn::Module* seq = dynamic_cast<nn::Sequential*>(&model);
  std::string prefix;
  if (!seq && model.children().size() == 1 && dynamic_cast<nn::Sequential*>(model.children()[0].second.get())) {
    seq = model.children()[0].second.get();
    prefix = model.children()[0].first + ".";
  }
  if (seq)
    for (const auto& [name, child] : seq->children()) layers.push_back({prefix + name, child.get()});
  else
    layers.push_back({"model", &model});
  return layers;
}

// What diagnose() changes and puts back: BatchNorm's running statistics, the rng (dropout), the
// training mode and the grad switch.
struct SavedState {
  std::vector<Tensor> buffers;
  Rng rng;
  bool training, grad;
  SavedState(Context& ctx, nn::Module& model) : rng(ctx.rng), training(model.training()), grad(ctx.grad_enabled) {
    for (auto& [name, b] : model.named_buffers()) buffers.push_back(b->clone());
  }
  void restore(Context& ctx, nn::Module& model) const {
    size_t k = 0;
    for (auto& [name, b] : model.named_buffers()) b->copy_(buffers[k++]);
    ctx.rng = rng;
    model.train(training);
    ctx.grad_enabled = grad;
  }
};

LayerDiagnostics layer_diagnostics(const LayerSlot& s) {
  LayerDiagnostics d;
  d.name = s.name, d.type = s.type, d.shape = s.shape;
  const double n = std::max(1.0, s.act.count());
  d.act_mean = s.act.mean(), d.act_std = s.act.std();
  d.act_min = s.act.n > 0 ? s.act.lo : 0.0, d.act_max = s.act.n > 0 ? s.act.hi : 0.0;
  d.frac_zero = s.act.zeros / n;
  d.frac_saturated = s.act.saturated / n;
  d.frac_nonfinite = s.act.nonfinite / n;
  if (!s.act.alive.empty())
    d.frac_dead = double(std::count(s.act.alive.begin(), s.act.alive.end(), 0)) / double(s.act.alive.size());
  d.grad_mean = s.grad.mean(), d.grad_std = s.grad.std();
  d.grad_nonfinite = s.grad.nonfinite / std::max(1.0, s.grad.count());
  d.hist = s.act.hist, d.grad_hist = s.grad.hist;
  return d;
}

// A parameter's weight and mean-gradient statistics, and the update-to-weight ratio of one SGD step
// (with Nesterov's 1 + momentum on the first step) of the options' lr and weight decay.
ParamDiagnostics param_diagnostics(const std::string& name, const Variable& v, int64_t batches,
                                   const DiagnosticsOptions& opt) {
  ParamDiagnostics p;
  p.name = name, p.shape = v.shape();
  const double step_scale = opt.lr * (opt.nesterov ? 1.0 + opt.momentum : 1.0);
  std::vector<float> w = v.data().to_vector();
  std::vector<float> g = v.grad().defined() ? v.grad().to_vector() : std::vector<float>(w.size(), 0.0f);
  double ws = 0, wss = 0, gs = 0, gss = 0, step2 = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double gi = double(g[i]) / double(batches);  // the mean gradient over the batches
    ws += w[i], wss += double(w[i]) * w[i], gs += gi, gss += gi * gi;
    const double step = step_scale * (gi + opt.weight_decay * w[i]);
    step2 += step * step;
  }
  const double n = std::max<double>(1.0, double(w.size()));
  p.weight_mean = ws / n, p.weight_std = std::sqrt(std::max(0.0, wss / n - p.weight_mean * p.weight_mean));
  p.weight_norm = norm_of(w);
  p.grad_mean = gs / n, p.grad_std = std::sqrt(std::max(0.0, gss / n - p.grad_mean * p.grad_mean));
  p.grad_norm = std::sqrt(gss);
  p.update_ratio = p.weight_norm > 0 ? std::sqrt(step2) / p.weight_norm : 0.0;
  return p;
}

}  // namespace

DiagnosticsReport diagnose(Context& ctx, nn::Module& model, const std::vector<std::pair<Tensor, Tensor>>& batches,
                           const DiagnosticsOptions& opt) {
  CHECK(!batches.empty(), "diagnose: no batches");
  CHECK(opt.bins >= 1, "diagnose: bins must be >= 1");
  const std::vector<std::pair<std::string, nn::Module*>> layers = layers_of(model);
  const SavedState saved(ctx, model);  // no side effects: put back below
  model.train(true);
  ctx.grad_enabled = true;
  zero_grads(model);

  std::vector<std::unique_ptr<LayerSlot>> slots;
  for (auto& [name, m] : layers) {
    auto s = std::make_unique<LayerSlot>();
    s->name = name, s->type = m->type();
    slots.push_back(std::move(s));
  }
  DiagnosticsReport report;
  double loss_sum = 0;
  for (const auto& [x, y] : batches) {  // forward layer by layer, statistics of each output, then backward
    Variable h(x);
    for (size_t i = 0; i < layers.size(); ++i) {
      h = layers[i].second->forward(ctx, h);
      LayerSlot* s = slots[i].get();
      Tensor out = h.data().contiguous();
      const int64_t N = out.dim() > 0 ? out.size(0) : 1;
      if (s->shape.empty()) s->shape = out.shape();
      s->act.add(out.data<float>(), N, out.numel() / std::max<int64_t>(N, 1), saturation_kind(s->type),
                 range_kind(s->type), opt.bins, true);
      if (h.requires_grad()) h = tap(ctx, h, s, opt.bins);
    }
    Variable loss = ops::cross_entropy(ctx, h, y, opt.label_smoothing);
    loss_sum += loss.item();
    if (loss.requires_grad()) loss.backward();
    report.images += x.size(0);
  }
  report.batches = static_cast<int64_t>(batches.size());
  report.loss = loss_sum / double(report.batches);
  for (auto& s : slots) report.layers.push_back(layer_diagnostics(*s));
  for (auto& [name, v] : model.named_parameters())
    report.params.push_back(param_diagnostics(name, *v, report.batches, opt));

  zero_grads(model);
  saved.restore(ctx, model);
  report.warnings = diagnostic_warnings(report, opt);
  return report;
}

namespace {

using Warnings = std::vector<std::string>;
std::string pct(double f) { return fmt("%.0f%%", 100.0 * f); }
std::string label(const LayerDiagnostics& l) { return l.name + " (" + l.type + ")"; }

// A non-finite loss, and the first layer whose outputs or gradients are non-finite (the rest follow).
void nonfinite_warnings(const DiagnosticsReport& r, Warnings& w) {
  if (!std::isfinite(r.loss))
    w.push_back("the loss is " + fmt("%g", r.loss) +
                ": the forward pass overflowed; check the input normalization, lower model.init_scale or use "
                "model.init: kaiming_normal / xavier_normal");
  for (const LayerDiagnostics& l : r.layers) {
    if (l.frac_nonfinite > 0) {
      w.push_back(label(l) + ": " + pct(l.frac_nonfinite) +
                  " of the outputs are NaN or inf (non-finite values); the signal overflowed before this layer: "
                  "use a smaller init (model.init) or normalize the inputs");
      break;  // the first one is the cause; the rest follow from it
    }
  }
  for (const LayerDiagnostics& l : r.layers)
    if (l.grad_nonfinite > 0) {
      w.push_back(label(l) + ": " + pct(l.grad_nonfinite) +
                  " of the gradients are NaN or inf; lower optim.lr or the init scale");
      break;
    }
}

// Activation layers in order: the signal's spread through depth.
void signal_warnings(const DiagnosticsReport& r, Warnings& w) {
  std::vector<const LayerDiagnostics*> acts;
  for (const LayerDiagnostics& l : r.layers)
    if (nn::is_activation_type(l.type)) acts.push_back(&l);
  if (acts.size() < 3) return;
  const LayerDiagnostics &first = *acts.front(), &last = *acts.back();
  int shrinking = 0;
  for (size_t i = 1; i < acts.size(); ++i) shrinking += acts[i]->act_std < acts[i - 1]->act_std;
  if (first.act_std > 0 && last.act_std < 0.25 * first.act_std && shrinking >= int(acts.size() - 1) * 3 / 4)
    w.push_back("vanishing signal: the activations shrink toward zero layer after layer (std " +
                fmt("%.3g", first.act_std) + " at " + first.name + ", " + fmt("%.3g", last.act_std) + " at " +
                last.name + "); the weights are too small for this depth: use model.init: " +
                (last.type == "Tanh" || last.type == "Sigmoid" ? "xavier_normal" : "kaiming_normal") +
                " (scaled to the fan-in and the activation's gain)");
  if (last.act_std > 10.0 * std::max(first.act_std, 1e-12) && last.act_std > 10.0)
    w.push_back("exploding signal: the activations grow layer after layer (std " + fmt("%.3g", first.act_std) +
                " at " + first.name + ", " + fmt("%.3g", last.act_std) + " at " + last.name +
                "); the weights are too large: use model.init: kaiming_normal or xavier_normal");
}

// Saturated tanh/sigmoid, dead ReLUs and huge outputs, per layer.
void unit_warnings(const DiagnosticsReport& r, Warnings& w) {
  std::string saturated, dead;
  for (const LayerDiagnostics& l : r.layers) {
    if (l.frac_saturated > 0.2)
      saturated += (saturated.empty() ? "" : ", ") + label(l) + " " + pct(l.frac_saturated);
    if (l.type == "ReLU" && (l.frac_dead > 0.3 || l.frac_zero > 0.9))
      dead += (dead.empty() ? "" : ", ") + label(l) + " " + pct(l.frac_dead) + " dead, " + pct(l.frac_zero) + " zero";
    if (std::max(std::abs(l.act_min), std::abs(l.act_max)) > 1e4 && std::isfinite(l.act_max))
      w.push_back(label(l) + ": outputs as large as " + fmt("%.3g", std::max(std::abs(l.act_min), std::abs(l.act_max))) +
                  " (exploding activations); use a smaller init or normalization layers");
  }
  if (!saturated.empty())
    w.push_back("saturation: " + saturated +
                " of the outputs sit at the flat ends of the curve (tanh |y| > 0.99, sigmoid y < 0.01 or > 0.99), "
                "where the gradient is nearly zero; the inputs to them are too large: use model.init: xavier_normal "
                "or a smaller model.init_scale");
  if (!dead.empty())
    w.push_back("dead ReLUs: " + dead +
                " (units that output 0 for every input seen cannot learn); use model.init: kaiming_normal, a lower "
                "optim.lr, or model.activation: leaky_relu / prelu");
}

// Gradients through depth: the first and the last layer that received one.
void gradient_warnings(const DiagnosticsReport& r, Warnings& w) {
  const LayerDiagnostics *gfirst = nullptr, *glast = nullptr;
  for (const LayerDiagnostics& l : r.layers)
    if (l.grad_std > 0) {
      if (!gfirst) gfirst = &l;
      glast = &l;
    }
  if (!gfirst || !glast || gfirst == glast) return;
  const double ratio = gfirst->grad_std / glast->grad_std;
  if (ratio > 1e3)
    w.push_back("exploding gradients: the gradient std grows " + fmt("%.3g", ratio) + "x from " + glast->name +
                " back to " + gfirst->name + "; use a smaller init, normalization layers, or gradient clipping");
  if (ratio < 1e-3)
    w.push_back("vanishing gradients: the gradient std shrinks " + fmt("%.3g", 1.0 / ratio) + "x from " +
                glast->name + " back to " + gfirst->name +
                "; the early layers will barely learn: fix the init (model.init) or the activation");
}

// Update-to-weight ratios of the Linear and Conv2d weights, one warning per direction; all-zero weights.
void update_warnings(const DiagnosticsReport& r, const DiagnosticsOptions& opt, Warnings& w) {
  std::string high, low;
  for (const ParamDiagnostics& p : r.params) {
    if (p.shape.size() < 2 || p.weight_norm == 0) continue;
    if (p.update_ratio > 3e-2) high += (high.empty() ? "" : ", ") + p.name + " " + fmt("%.2g", p.update_ratio);
    if (p.update_ratio < 3e-5) low += (low.empty() ? "" : ", ") + p.name + " " + fmt("%.2g", p.update_ratio);
  }
  if (!high.empty())
    w.push_back("update-to-weight ratio far above 1e-3 (" + high +
                "): one step changes these weights a lot; lower optim.lr (the first step's lr is " + fmt("%g", opt.lr) + ")");
  if (!low.empty())
    w.push_back("update-to-weight ratio far below 1e-3 (" + low + "): these weights barely move; raise optim.lr (the first step's lr is " +
                fmt("%g", opt.lr) + ") or fix a vanishing gradient");
  for (const ParamDiagnostics& p : r.params)
    if (p.shape.size() >= 2 && p.weight_norm == 0)
      w.push_back(p.name + ": all weights are zero (a symmetric network: every unit computes the same thing); use "
                  "a random init");
}

}  // namespace

std::vector<std::string> diagnostic_warnings(const DiagnosticsReport& r, const DiagnosticsOptions& opt) {
  Warnings w;
  nonfinite_warnings(r, w);
  signal_warnings(r, w);
  unit_warnings(r, w);
  gradient_warnings(r, w);
  update_warnings(r, opt, w);
  return w;
}

std::string diagnostics_json(const DiagnosticsReport& r) {
  nlohmann::json layers = nlohmann::json::array(), params = nlohmann::json::array();
  for (const LayerDiagnostics& l : r.layers)
    layers.push_back({{"name", l.name},
                      {"type", l.type},
                      {"shape", l.shape},
                      {"act_mean", num(l.act_mean)},
                      {"act_std", num(l.act_std)},
                      {"act_min", num(l.act_min)},
                      {"act_max", num(l.act_max)},
                      {"frac_zero", l.frac_zero},
                      {"frac_dead", l.frac_dead},
                      {"frac_saturated", l.frac_saturated},
                      {"frac_nonfinite", l.frac_nonfinite},
                      {"grad_mean", num(l.grad_mean)},
                      {"grad_std", num(l.grad_std)},
                      {"hist", hist_json(l.hist)},
                      {"grad_hist", hist_json(l.grad_hist)}});
  for (const ParamDiagnostics& p : r.params)
    params.push_back({{"name", p.name},
                      {"shape", p.shape},
                      {"weight_mean", num(p.weight_mean)},
                      {"weight_std", num(p.weight_std)},
                      {"weight_norm", num(p.weight_norm)},
                      {"grad_mean", num(p.grad_mean)},
                      {"grad_std", num(p.grad_std)},
                      {"grad_norm", num(p.grad_norm)},
                      {"update_ratio", num(p.update_ratio)}});
  nlohmann::json j = {{"loss", num(r.loss)}, {"batches", r.batches}, {"images", r.images},
                      {"layers", layers},    {"params", params},     {"warnings", r.warnings}};
  return j.dump(1) + "\n";
}

std::string diagnostics_line(const DiagnosticsReport& r, int64_t step) {
  nlohmann::json layers = nlohmann::json::array(), ratios = nlohmann::json::object();
  for (const LayerDiagnostics& l : r.layers)
    layers.push_back({{"name", l.name}, {"act_mean", num(l.act_mean)}, {"act_std", num(l.act_std)},
                      {"frac_zero", l.frac_zero}, {"frac_saturated", l.frac_saturated}, {"grad_std", num(l.grad_std)}});
  for (const ParamDiagnostics& p : r.params) ratios[p.name] = num(p.update_ratio);
  nlohmann::json j = {{"step", step}, {"loss", num(r.loss)}, {"layers", layers}, {"update_ratio", ratios},
                      {"warnings", r.warnings}};
  return j.dump();
}

void write_diagnostics(const DiagnosticsReport& r, const std::string& dir, const std::string& title) {
  write_text_atomic(dir + "/diagnostics.json", diagnostics_json(r));
  bool any_act = false;
  for (const LayerDiagnostics& l : r.layers) any_act = any_act || nn::is_activation_type(l.type);
  std::vector<viz::Histogram> acts, grads;
  int index = 0;
  for (const LayerDiagnostics& l : r.layers) {
    if (any_act && !nn::is_activation_type(l.type)) continue;
    ++index;
    const std::string head = "layer " + std::to_string(index) + ": " + l.name + " " + l.type;
    acts.push_back({head + "\nmean " + fmt("%.3g", l.act_mean) + "  std " + fmt("%.3g", l.act_std), l.hist.edges,
                    l.hist.counts});
    grads.push_back({head + "\ngrad mean " + fmt("%.2g", l.grad_mean) + "  std " + fmt("%.2g", l.grad_std),
                     l.grad_hist.edges, l.grad_hist.counts});
  }
  viz::histogram_grid_png(dir + "/activations.png", title + ": activations per layer", acts);
  viz::histogram_grid_png(dir + "/gradients.png", title + ": gradients at each layer's output", grads);
}

}  // namespace cvtrain
