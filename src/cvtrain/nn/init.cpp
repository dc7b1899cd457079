// Initializers of torch.nn.init, sequential draws from the given Rng, and the model-wide schemes.
#include "cvtrain/nn/init.h"

#include <cmath>
#include <stdexcept>

#include "cvtrain/nn/activations.h"

namespace cvtrain::nn::init {

static int64_t receptive_field(const Shape& s) {
  CHECK(s.size() >= 2, "fan in/out of a tensor with fewer than 2 dimensions: ", shape_str(s));
  int64_t r = 1;
  for (size_t i = 2; i < s.size(); ++i) r *= s[i];
  return r;
}

int64_t fan_in(const Shape& s) { return s[1] * receptive_field(s); }
int64_t fan_out(const Shape& s) { return s[0] * receptive_field(s); }

void uniform_(Tensor& t, float lo, float hi, Rng& rng) {
  CHECK(t.is_contiguous(), "uniform_ on a non-contiguous ", t.describe());
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * rng.uniform();
}

void normal_(Tensor& t, float mean, float std, Rng& rng) {
  CHECK(t.is_contiguous(), "normal_ on a non-contiguous ", t.describe());
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + std * rng.normal();
}

void zeros_(Tensor& t) { t.fill_(0.0f); }
void constant_(Tensor& t, float value) { t.fill_(value); }

void kaiming_uniform_(Tensor& w, double a, Rng& rng) {
  int64_t fan = fan_in(w.shape());
  CHECK(fan > 0, "kaiming_uniform_ of ", w.describe(), ": zero fan-in");
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  float bound = static_cast<float>(gain * std::sqrt(3.0 / static_cast<double>(fan)));
  uniform_(w, -bound, bound, rng);
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "conv2d" || nl == "sigmoid") return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nl == "selu") return 3.0 / 4.0;
  fail_input("unknown nonlinearity '", nl, "' for the init gain (known: linear, conv2d, sigmoid, tanh, relu, leaky_relu, selu)");
}

const std::vector<std::string>& fan_mode_names() {
  static const std::vector<std::string> names = {"fan_in", "fan_out"};
  return names;
}

FanMode fan_mode(const std::string& name) {
  return static_cast<FanMode>(index_of_name(fan_mode_names(), name, "model.init_mode", "mode"));
}

void xavier_normal_(Tensor& w, double gain, Rng& rng) {
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in(w.shape()) + fan_out(w.shape())));
  normal_(w, 0.0f, static_cast<float>(std), rng);
}

void xavier_uniform_(Tensor& w, double gain, Rng& rng) {
  const double b = gain * std::sqrt(6.0 / static_cast<double>(fan_in(w.shape()) + fan_out(w.shape())));
  uniform_(w, static_cast<float>(-b), static_cast<float>(b), rng);
}

static double kaiming_std(const Tensor& w, FanMode mode, double gain) {
  const int64_t fan = mode == FanMode::fan_in ? fan_in(w.shape()) : fan_out(w.shape());
  CHECK(fan > 0, "kaiming init of ", w.describe(), ": zero fan");
  return gain / std::sqrt(static_cast<double>(fan));
}

void kaiming_normal_(Tensor& w, FanMode mode, double gain, Rng& rng) {
  normal_(w, 0.0f, static_cast<float>(kaiming_std(w, mode, gain)), rng);
}

void kaiming_uniform_(Tensor& w, FanMode mode, double gain, Rng& rng) {
  const double b = std::sqrt(3.0) * kaiming_std(w, mode, gain);
  uniform_(w, static_cast<float>(-b), static_cast<float>(b), rng);
}

void lecun_normal_(Tensor& w, Rng& rng) { kaiming_normal_(w, FanMode::fan_in, 1.0, rng); }

void orthogonal_(Tensor& w, double gain, Rng& rng) {
  CHECK(w.dim() >= 2 && w.is_contiguous(), "orthogonal_ needs a contiguous tensor of dim >= 2, got ", w.describe());
  const int64_t rows = w.size(0), cols = w.numel() / rows;
  // Orthonormalize the k = min(rows, cols) vectors of length m = max(rows, cols) (modified
  // Gram-Schmidt in double: Q of the QR, with R's diagonal positive by construction).
  const bool transpose = rows < cols;
  const int64_t k = transpose ? rows : cols, m = transpose ? cols : rows;
  std::vector<double> q(static_cast<size_t>(k * m));
  for (double& v : q) v = rng.normal();
  for (int64_t j = 0; j < k; ++j) {
    double* qj = &q[j * m];
    for (int64_t p = 0; p < j; ++p) {
      const double* qp = &q[p * m];
      double d = 0;
      for (int64_t i = 0; i < m; ++i) d += qp[i] * qj[i];
      for (int64_t i = 0; i < m; ++i) qj[i] -= d * qp[i];
    }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += qj[i] * qj[i];
    norm = std::sqrt(norm);
    CHECK(norm > 1e-12, "orthogonal_: degenerate Gaussian draw");
    for (int64_t i = 0; i < m; ++i) qj[i] /= norm;
  }
  float* out = w.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = static_cast<float>(gain * (transpose ? q[r * m + c] : q[c * m + r]));
}

const std::vector<InitEntry>& init_registry() {
  static const std::vector<InitEntry> table = {
      {"pytorch", "PyTorch's defaults as built: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases"},
      {"zeros", "all weights 0 (a symmetric network: every unit learns the same thing)"},
      {"constant", "all weights model.init_scale", {"model.init_scale"}},
      {"normal", "N(0, model.init_scale^2): the lecture's \"small random numbers\" (std 0.01)", {"model.init_scale"}},
      {"uniform", "U(-model.init_scale, model.init_scale)", {"model.init_scale"}},
      {"xavier_normal", "N(0, gain^2 * 2/(fan_in+fan_out)), Glorot & Bengio 2010 (gain: model.init_gain, default 1)", {"model.init_gain"}},
      {"xavier_uniform", "U(-b, b), b = gain * sqrt(6/(fan_in+fan_out)), Glorot & Bengio 2010", {"model.init_gain"}},
      {"kaiming_normal", "N(0, gain^2/fan), He et al. 2015; fan from model.init_mode, gain from model.activation", {"model.init_mode", "model.init_gain"}},
      {"kaiming_uniform", "U(-b, b), b = gain * sqrt(3/fan), He et al. 2015", {"model.init_mode", "model.init_gain"}},
      {"lecun_normal", "N(0, 1/fan_in), LeCun et al. 1998: the init SELU assumes"},
      {"orthogonal", "orthonormal rows or columns times gain, Saxe et al. 2014", {"model.init_gain"}},
  };
  return table;
}

double activation_gain(const std::string& act, double slope) {
  for (const ActivationEntry& e : activation_registry())  // each activation's row carries its gain
    if (e.name == act) return e.gain(slope);
  fail_input("model.activation: no init gain for '", act, "'");
}

namespace {

bool is_scheme(const std::string& name) {
  for (const InitEntry& e : init_registry())
    if (e.name == name) return true;
  return false;
}

std::string scheme_names() {
  std::string names;
  for (const InitEntry& e : init_registry()) names += (names.empty() ? "" : ", ") + e.name;
  return names;
}

struct Override {
  std::string prefix, scheme;
  double scale;
  bool used = false;
};

// {net.13: xavier_normal, net.1: "normal:0.02"}: each value is SCHEME or SCHEME:SCALE.
std::vector<Override> parse_overrides(const std::vector<std::pair<std::string, std::string>>& given,
                                      double default_scale) {
  std::vector<Override> out;
  for (const auto& [prefix, value] : given) {
    const std::string item = prefix + ": " + value;
    if (prefix.empty() || value.empty())
      fail_input("model.init_overrides: '", item, "' is not PREFIX: SCHEME[:SCALE] (e.g. net.13: xavier_normal)");
    Override o{prefix, value, default_scale};
    if (const size_t colon = o.scheme.find(':'); colon != std::string::npos) {
      const std::string num = o.scheme.substr(colon + 1);
      o.scheme = o.scheme.substr(0, colon);
      try {
        size_t used = 0;
        o.scale = std::stod(num, &used);
        if (used != num.size()) throw std::invalid_argument(num);
      } catch (const std::exception&) {
        fail_input("model.init_overrides: '", item, "': the scale '", num, "' is not a number");
      }
    }
    if (!is_scheme(o.scheme))
      fail_input("model.init_overrides: '", item, "': unknown scheme '", o.scheme, "' (known: ", scheme_names(), ")");
    out.push_back(o);
  }
  return out;
}

}  // namespace

void check_options(const InitSpec& spec) {
  if (!is_scheme(spec.scheme)) fail_input("model.init: unknown scheme '", spec.scheme, "' (known: ", scheme_names(), ")");
  fan_mode(spec.mode);
  if (!(spec.gain >= 0)) fail_input("model.init_gain must be >= 0, got ", spec.gain);
  parse_overrides(spec.overrides, spec.scale);
}

void init_model(Module& model, const InitSpec& spec, Rng& rng) {
  check_options(spec);
  std::vector<Override> overrides = parse_overrides(spec.overrides, spec.scale);
  if (spec.scheme == "pytorch" && overrides.empty()) return;
  const FanMode mode = fan_mode(spec.mode);
  const double kaiming_gain = spec.gain > 0 ? spec.gain : activation_gain(spec.activation, spec.activation_slope);
  const double gain = spec.gain > 0 ? spec.gain : 1.0;

  auto params = model.named_parameters();
  for (auto& [name, v] : params) {
    Tensor& w = v->data();
    if (w.dim() < 2) continue;
    std::string scheme = spec.scheme;
    float s = static_cast<float>(spec.scale);
    Override* best = nullptr;
    for (Override& o : overrides)
      if (name.rfind(o.prefix + ".", 0) == 0 && (!best || o.prefix.size() > best->prefix.size())) best = &o;
    if (best) scheme = best->scheme, s = static_cast<float>(best->scale), best->used = true;
    if (scheme == "pytorch") continue;
    if (scheme == "zeros") zeros_(w);
    else if (scheme == "constant") constant_(w, s);
    else if (scheme == "normal") normal_(w, 0.0f, s, rng);
    else if (scheme == "uniform") uniform_(w, -s, s, rng);
    else if (scheme == "xavier_normal") xavier_normal_(w, gain, rng);
    else if (scheme == "xavier_uniform") xavier_uniform_(w, gain, rng);
    else if (scheme == "kaiming_normal") kaiming_normal_(w, mode, kaiming_gain, rng);
    else if (scheme == "kaiming_uniform") kaiming_uniform_(w, mode, kaiming_gain, rng);
    else if (scheme == "lecun_normal") lecun_normal_(w, rng);
    else if (scheme == "orthogonal") orthogonal_(w, gain, rng);
    // the bias beside this weight ("x.weight" -> "x.bias") starts at zero
    if (name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0) {
      const std::string bias = name.substr(0, name.size() - 6) + "bias";
      for (auto& [other, b] : params)
        if (other == bias) zeros_(b->data());
    }
  }
  for (const Override& o : overrides)
    if (!o.used) fail_input("model.init_overrides: '", o.prefix, "' names no Linear or Conv2d weight of the model");
}

}  // namespace cvtrain::nn::init
