// Per-layer diagnostics of a network on a few batches: activation statistics and histograms, the
// gradient reaching each layer's output, per-parameter gradients and the update-to-weight ratio of
// one SGD step, and plain-language warnings for the known pathologies (vanishing or exploding
// signal, saturation, dead ReLUs, non-finite values, learning rates far off). Side-effect free on
// the model (weights, BatchNorm buffers, gradients left zero) and on ctx.rng. Not a training loop.
#pragma once
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

struct HistogramCounts {
  std::vector<double> edges;   // bins + 1, increasing
  std::vector<double> counts;  // bins
};

struct LayerDiagnostics {
  std::string name;  // "net.2": the module's dotted name
  std::string type;  // "Tanh"
  Shape shape;       // output shape of the first batch
  // activations: the layer's output values
  double act_mean = 0, act_std = 0, act_min = 0, act_max = 0;
  double frac_zero = 0;       // exactly 0.0 (a ReLU's inactive outputs)
  double frac_dead = 0;       // units (output positions per sample) that are 0 for every sample seen
  double frac_saturated = 0;  // tanh |y| > 0.99, sigmoid y < 0.01 or > 0.99; 0 for other layers
  double frac_nonfinite = 0;
  // the gradient of the loss with respect to the layer's output
  double grad_mean = 0, grad_std = 0, grad_nonfinite = 0;
  HistogramCounts hist, grad_hist;
};

struct ParamDiagnostics {
  std::string name;  // "net.1.weight"
  Shape shape;
  double weight_mean = 0, weight_std = 0, weight_norm = 0;
  double grad_mean = 0, grad_std = 0, grad_norm = 0;
  double update_ratio = 0;  // ||first SGD step|| / ||weight|| (0 when the weight is 0)
};

struct DiagnosticsOptions {
  int64_t bins = 50;
  // The step whose size gives the update-to-weight ratio: PyTorch's SGD first step,
  // lr * (1 + momentum if nesterov) * (g + weight_decay * w).
  double lr = 0.1, momentum = 0.9, weight_decay = 0.0;
  bool nesterov = false;
  float label_smoothing = 0.0f;
};

// The options of a config: optim.lr, optim.momentum, optim.nesterov, optim.weight_decay,
// train.label_smoothing.
DiagnosticsOptions diagnostics_options(const RunConfig& cfg);

struct DiagnosticsReport {
  int64_t batches = 0, images = 0;
  double loss = 0;  // mean cross-entropy over the batches
  std::vector<LayerDiagnostics> layers;
  std::vector<ParamDiagnostics> params;
  std::vector<std::string> warnings;
};

// Runs forward and backward (cross-entropy) on each batch, layer by layer through the model's
// Sequential (the model itself, or its only child, as the zoo's models are; otherwise the model is
// one layer). x: (N,C,H,W) f32 normalized, y: (N) i64. Fills warnings via diagnostic_warnings.
DiagnosticsReport diagnose(Context& ctx, nn::Module& model, const std::vector<std::pair<Tensor, Tensor>>& batches,
                           const DiagnosticsOptions& options);

// The plain-language warnings for a report, each naming the layer or parameter and the likely fix.
std::vector<std::string> diagnostic_warnings(const DiagnosticsReport& report, const DiagnosticsOptions& options);

// diagnostics.json: {"loss", "batches", "images", "layers": [{name, type, shape, act_mean, act_std,
// act_min, act_max, frac_zero, frac_dead, frac_saturated, frac_nonfinite, grad_mean, grad_std,
// hist: {edges, counts}, grad_hist: {edges, counts}}...], "params": [...], "warnings": [...]}.
std::string diagnostics_json(const DiagnosticsReport& report);

// One compact JSON line (no histograms) for logging every N training steps (train.diagnostics_every).
std::string diagnostics_line(const DiagnosticsReport& report, int64_t step);

// Writes DIR/diagnostics.json, DIR/activations.png (histograms of the activation layers' outputs
// side by side, or of every layer when the model has no activation modules) and DIR/gradients.png
// (histograms of the gradients at the same layers). `title` heads the pictures. The folder must exist.
void write_diagnostics(const DiagnosticsReport& report, const std::string& dir, const std::string& title);

}  // namespace cvtrain
