// Activation modules and their table.
#include "cvtrain/nn/activations.h"

#include <cmath>
#include <numbers>

#include "cvtrain/nn/init.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/ops/activation.h"
#include "cvtrain/ops/elementwise.h"

namespace cvtrain::nn {

namespace {
std::string py_float(double v) {  // Python's repr of a float: 0.01, 1.0, 0.25
  std::string s = detail::concat(v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

Variable Sigmoid::forward(Context& ctx, const Variable& x) { return ops::sigmoid(ctx, x); }
Variable Tanh::forward(Context& ctx, const Variable& x) { return ops::tanh(ctx, x); }

Variable LeakyReLU::forward(Context& ctx, const Variable& x) { return ops::leaky_relu(ctx, x, slope_); }
std::string LeakyReLU::describe() const { return "LeakyReLU(negative_slope=" + py_float(slope_) + ")"; }

PReLU::PReLU(int64_t num_parameters, float init) : Module("PReLU") {
  CHECK(num_parameters >= 1, "PReLU(", num_parameters, "): needs at least one slope");
  weight = register_parameter("weight", Tensor::full({num_parameters}, init));
}
Variable PReLU::forward(Context& ctx, const Variable& x) { return ops::prelu(ctx, x, weight); }
std::string PReLU::describe() const { return detail::concat("PReLU(num_parameters=", weight.numel(), ")"); }

Variable ELU::forward(Context& ctx, const Variable& x) { return ops::elu(ctx, x, alpha_); }
std::string ELU::describe() const { return "ELU(alpha=" + py_float(alpha_) + ")"; }

Variable SELU::forward(Context& ctx, const Variable& x) { return ops::selu(ctx, x); }

Variable GELU::forward(Context& ctx, const Variable& x) { return ops::gelu(ctx, x, tanh_); }
std::string GELU::describe() const { return std::string("GELU(approximate='") + (tanh_ ? "tanh" : "none") + "')"; }

Variable SiLU::forward(Context& ctx, const Variable& x) { return ops::silu(ctx, x); }

namespace {

// ---- ONNX forms (opset 13) ----

std::string onnx_unary(OnnxGraph& g, const char* op, const std::string& x) { return g.node(op, {x}); }
std::string relu_onnx(OnnxGraph& g, Module&, const std::string& x, int64_t) { return onnx_unary(g, "Relu", x); }
std::string sigmoid_onnx(OnnxGraph& g, Module&, const std::string& x, int64_t) { return onnx_unary(g, "Sigmoid", x); }
std::string tanh_onnx(OnnxGraph& g, Module&, const std::string& x, int64_t) { return onnx_unary(g, "Tanh", x); }
std::string selu_onnx(OnnxGraph& g, Module&, const std::string& x, int64_t) { return onnx_unary(g, "Selu", x); }
std::string leaky_relu_onnx(OnnxGraph& g, Module& m, const std::string& x, int64_t) {
  return g.node("LeakyRelu", {x}, {{"alpha", dynamic_cast<LeakyReLU&>(m).negative_slope()}});
}
std::string elu_onnx(OnnxGraph& g, Module& m, const std::string& x, int64_t) {
  return g.node("Elu", {x}, {{"alpha", dynamic_cast<ELU&>(m).alpha()}});
}
// slope: (1) shared, or (C) per channel, reshaped to (C,1,1) to broadcast over (N,C,H,W).
std::string prelu_onnx(OnnxGraph& g, Module& m, const std::string& x, int64_t rank) {
  const Tensor& slope = dynamic_cast<PReLU&>(m).weight.data();
  Shape shape = slope.shape();
  if (slope.numel() > 1)
    for (int64_t i = 2; i < rank; ++i) shape.push_back(1);
  return g.node("PRelu", {x, g.constant("weight", slope.to_vector(), shape)});
}
// Hendrycks & Gimpel 2016: exact x * 0.5 * (1 + erf(x / sqrt 2)); tanh form
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Gelu is an ONNX op only from opset 20.
std::string gelu_onnx(OnnxGraph& g, Module& m, const std::string& x, int64_t) {
  auto c = [&](const char* name, float v) { return g.constant(name, {v}, {}); };
  std::string inner;
  if (!dynamic_cast<GELU&>(m).approximate_tanh()) {
    inner = g.node("Erf", {g.node("Div", {x, c("sqrt2", static_cast<float>(std::sqrt(2.0)))})});
  } else {
    const std::string x3 = g.node("Mul", {g.node("Mul", {x, x}), x});
    const std::string poly = g.node("Add", {x, g.node("Mul", {x3, c("k0044715", 0.044715f)})});
    inner = g.node("Tanh", {g.node("Mul", {poly, c("sqrt_2_over_pi", static_cast<float>(std::sqrt(2.0 / std::numbers::pi)))})});
  }
  const std::string one_plus = g.node("Add", {inner, c("one", 1.0f)});
  const std::string half_x = g.node("Mul", {x, c("half", 0.5f)});
  return g.node("Mul", {half_x, one_plus});
}
std::string silu_onnx(OnnxGraph& g, Module&, const std::string& x, int64_t) {  // x sigmoid(x)
  return g.node("Mul", {x, g.node("Sigmoid", {x})});
}

}  // namespace

const std::vector<ActivationEntry>& activation_registry() {
  using std::make_shared;
  auto slope_or = [](const ActivationSpec& s, double d) { return static_cast<float>(s.slope < 0 ? d : s.slope); };
  // Init gains from torch.nn.init.calculate_gain: ReLU's also for the ReLU-like elu, gelu, silu; selu
  // 1 ('linear'), so that kaiming becomes LeCun normal, the init SELU assumes.
  constexpr auto relu = [](double) { return init::calculate_gain("relu"); };
  constexpr auto sigmoid = [](double) { return init::calculate_gain("sigmoid"); };
  constexpr auto tanh = [](double) { return init::calculate_gain("tanh"); };
  constexpr auto linear = [](double) { return init::calculate_gain("linear"); };
  constexpr auto leaky = [](double slope) { return init::calculate_gain("leaky_relu", slope); };
  constexpr const char* gelu_nodes = "Div, Erf, Add, Mul, Mul (tanh form: Mul, Add, Tanh, ...)";
  static const std::vector<ActivationEntry> table = {
      {"relu", "max(0, x)", [](const ActivationSpec&, int64_t) { return make_shared<ReLU>(); }, relu, "ReLU", "Relu",
       relu_onnx},
      {"sigmoid", "1 / (1 + exp(-x))", [](const ActivationSpec&, int64_t) { return make_shared<Sigmoid>(); }, sigmoid,
       "Sigmoid", "Sigmoid", sigmoid_onnx},
      {"tanh", "tanh(x)", [](const ActivationSpec&, int64_t) { return make_shared<Tanh>(); }, tanh, "Tanh", "Tanh",
       tanh_onnx},
      {"leaky_relu", "x > 0 ? x : slope x (model.activation_slope, default 0.01)",
       [slope_or](const ActivationSpec& s, int64_t) { return make_shared<LeakyReLU>(slope_or(s, 0.01)); }, leaky,
       "LeakyReLU", "LeakyRelu", leaky_relu_onnx, {"model.activation_slope"}},
      {"prelu", "leaky ReLU with one learned slope shared by all channels (initial model.activation_slope, default 0.25)",
       [slope_or](const ActivationSpec& s, int64_t) { return make_shared<PReLU>(1, slope_or(s, 0.25)); }, leaky,
       "PReLU", "PRelu (slope (C,1,1) per channel)", prelu_onnx, {"model.activation_slope"}},
      {"prelu_channel", "PReLU with one learned slope per channel",
       [slope_or](const ActivationSpec& s, int64_t c) { return make_shared<PReLU>(c, slope_or(s, 0.25)); }, leaky,
       "PReLU", "PRelu (slope (C,1,1) per channel)", prelu_onnx, {"model.activation_slope"}},
      {"elu", "x > 0 ? x : alpha (exp(x) - 1) (model.activation_alpha, default 1)",
       [](const ActivationSpec& s, int64_t) { return make_shared<ELU>(static_cast<float>(s.alpha)); }, relu, "ELU",
       "Elu", elu_onnx, {"model.activation_alpha"}},
      {"selu", "scale * elu(x, alpha), the self-normalizing constants (pair with model.init: lecun_normal)",
       [](const ActivationSpec&, int64_t) { return make_shared<SELU>(); }, linear, "SELU", "Selu", selu_onnx},
      {"gelu", "x Phi(x), exact (erf)", [](const ActivationSpec&, int64_t) { return make_shared<GELU>(false); }, relu,
       "GELU", gelu_nodes, gelu_onnx},
      {"gelu_tanh", "GELU's tanh approximation", [](const ActivationSpec&, int64_t) { return make_shared<GELU>(true); },
       relu, "GELU", gelu_nodes, gelu_onnx},
      {"silu", "x sigmoid(x) (Swish)", [](const ActivationSpec&, int64_t) { return make_shared<SiLU>(); }, relu, "SiLU",
       "Sigmoid, Mul", silu_onnx},
  };
  return table;
}

void validate_activation(const ActivationSpec& spec) {
  bool known = false;
  std::string names;
  for (const ActivationEntry& e : activation_registry()) {
    known = known || e.name == spec.name;
    names += (names.empty() ? "" : ", ") + e.name;
  }
  if (!known) fail_input("model.activation: unknown activation '", spec.name, "' (known: ", names, ")");
  if (!std::isfinite(spec.slope)) fail_input("model.activation_slope must be finite");
  if (!(spec.alpha > 0) || !std::isfinite(spec.alpha))
    fail_input("model.activation_alpha must be positive, got ", spec.alpha);
}

std::shared_ptr<Module> make_activation(const ActivationSpec& spec, int64_t channels) {
  validate_activation(spec);
  for (const ActivationEntry& e : activation_registry())
    if (e.name == spec.name) return e.build(spec, channels);
  CHECK(false, "unreachable");
  return nullptr;
}

bool is_activation_type(const std::string& t) {
  for (const ActivationEntry& e : activation_registry())
    if (e.type == t) return true;
  return false;
}

}  // namespace cvtrain::nn
