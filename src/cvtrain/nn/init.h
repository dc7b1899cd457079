// Parameter initializers, as torch.nn.init defines them, drawing from an explicit Rng (the values
// differ from PyTorch's, the distributions do not), and the whole-model schemes that `model.init`
// selects. Host-side loops: they run once per model.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/nn/module.h"
#include "cvtrain/tensor/rng.h"
#include "cvtrain/tensor/tensor.h"

namespace cvtrain::nn::init {

// torch.nn.init._calculate_fan_in_and_fan_out: fan_in = size(1) * prod(size(2:)) (a conv weight
// (OC,C/groups,KH,KW) gives C/groups*KH*KW), fan_out = size(0) * prod(size(2:)). Needs dim >= 2.
int64_t fan_in(const Shape& weight_shape);
int64_t fan_out(const Shape& weight_shape);

void uniform_(Tensor& t, float lo, float hi, Rng& rng);  // U[lo, hi), f32
void normal_(Tensor& t, float mean, float std, Rng& rng);
void zeros_(Tensor& t);
void constant_(Tensor& t, float value);

// kaiming_uniform_(w, a, mode='fan_in', nonlinearity='leaky_relu'): U(-b, b) with
// b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) (He et al. 2015, eq. 10).
// PyTorch's Linear and Conv default is a = sqrt(5), which makes b = 1/sqrt(fan_in).
void kaiming_uniform_(Tensor& w, double a, Rng& rng);

// torch.nn.init.calculate_gain: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu
// sqrt(2 / (1 + slope^2)) (`param` is the slope), selu 3/4. InputError for an unknown name.
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

enum class FanMode { fan_in, fan_out };
const std::vector<std::string>& fan_mode_names();  // model.init_mode's values, in the enum's order
FanMode fan_mode(const std::string& name);  // "fan_in" | "fan_out", else InputError naming model.init_mode

// Glorot & Bengio 2010, eq. 16: std = gain * sqrt(2 / (fan_in + fan_out)); uniform bound sqrt(3) std.
void xavier_normal_(Tensor& w, double gain, Rng& rng);
void xavier_uniform_(Tensor& w, double gain, Rng& rng);
// He et al. 2015: std = gain / sqrt(fan) with fan from `mode`; uniform bound sqrt(3) std.
void kaiming_normal_(Tensor& w, FanMode mode, double gain, Rng& rng);
void kaiming_uniform_(Tensor& w, FanMode mode, double gain, Rng& rng);
// LeCun et al. 1998 (the init SELU assumes, Klambauer et al. 2017): std = 1 / sqrt(fan_in).
void lecun_normal_(Tensor& w, Rng& rng);
// Saxe et al. 2014: w viewed as (size(0), numel/size(0)) gets orthonormal rows (or columns, whichever
// are fewer), from the QR of a Gaussian matrix with R's diagonal made positive, times gain.
void orthogonal_(Tensor& w, double gain, Rng& rng);

// A whole-model scheme (config keys model.init, model.init_scale, model.init_mode, model.init_gain).
struct InitSpec {
  std::string scheme = "pytorch";    // a name of init_registry()
  double scale = 0.01;               // normal: std; uniform: half-width; constant: the value
  std::string mode = "fan_in";       // kaiming: fan_in | fan_out
  double gain = 0.0;                 // 0: kaiming from the activation, 1 for xavier and orthogonal
  // Per-layer overrides (model.init_overrides): PREFIX -> "SCHEME[:SCALE]", e.g.
  // {net.13: xavier_normal, net.1: "normal:0.02"}: a weight whose name starts with PREFIX + "." uses
  // that scheme (the longest matching prefix wins). Every prefix must match some weight.
  std::vector<std::pair<std::string, std::string>> overrides;
  std::string activation = "relu";   // the model's activation (model.activation), for kaiming's gain
  double activation_slope = 0.01;    // leaky_relu / prelu slope, for kaiming's gain
};

struct InitEntry {
  std::string name;
  std::string description;
  std::vector<std::string> keys = {};  // the config keys it reads beyond model.init
};
// Every scheme, in the order docs list them.
const std::vector<InitEntry>& init_registry();

// Kaiming's gain for a model.activation name (with the leaky kinds' slope), read from its registry
// row (nn/activations.cpp), where each activation names the calculate_gain it uses.
double activation_gain(const std::string& activation, double slope);

// Re-initializes every weight with dim >= 2 (Linear, Conv2d) of `model` by `spec.scheme` and sets
// the bias beside each such weight to zero. "pytorch" leaves the model as built (PyTorch's
// defaults). Other parameters (BatchNorm, PReLU) keep their values. InputError naming model.init
// for an unknown scheme (model.init_overrides for a bad override).
void init_model(Module& model, const InitSpec& spec, Rng& rng);
// The scheme, mode, gain and overrides of `spec` (InputError naming the model.init* key).
void check_options(const InitSpec& spec);

}  // namespace cvtrain::nn::init
