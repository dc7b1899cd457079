// The optimizer interface over a flat ParameterArena, the options every optimizer reads from the
// config, parameter groups (weight decay withheld from biases and norm scales, an lr multiplier for
// them), and the one visible table of optimizers. Each optimizer's update lives in its own file with
// the paper's symbols. Not a scheduler (schedule.h) and not a gradient clipper (the trainer).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/nn/arena.h"

namespace cvtrain::optim {

// The optim.* keys an optimizer reads, with the program's defaults (train/config.cpp documents each
// key; these are its only defaults). Each optimizer reads the fields it knows and rounds them to
// float once, when it is made.
struct OptimOptions {
  std::string name = "sgd";
  double weight_decay = 5e-4;  // lambda: L2 added to the gradient; AdamW: decoupled decay
  // lambda_1: L1 penalty, lambda_1 sign(theta) added to the gradient by every optimizer (adamw too:
  // only its L2 part is decoupled). With weight_decay > 0 as well, this is the elastic net
  // (Zou & Hastie 2005): lambda_1 |theta|_1 + (lambda/2) |theta|_2^2, each with its own strength.
  double l1 = 0.0;
  // sgd, rmsprop: mu (schedules may move it per step)
  double momentum = 0.9;
  double dampening = 0.0;  // sgd
  bool nesterov = true;    // sgd
  // adam, adamw: beta1 (schedules that cycle momentum cycle beta1 instead, as torch's OneCycleLR does)
  double beta1 = 0.9, beta2 = 0.999;
  double eps = -1.0;              // < 0: the optimizer's own default (adam 1e-8, rmsprop 1e-8, adagrad 1e-10)
  double alpha = 0.99;            // rmsprop: smoothing of the squared gradient's average
  bool centered = false;          // rmsprop: divide by the gradient's estimated variance, not its 2nd moment
  double lr_decay = 0.0;          // adagrad
  double initial_accumulator = 0.0;  // adagrad
  double trust_coefficient = 0.001;  // lars: eta of the trust ratio eta ||w|| / (||g|| + lambda ||w||)
  // Parameter groups: false withholds weight decay and L1 from arena entries flagged is_bias_or_norm,
  // and with lars and lamb the trust ratio too (those entries take the plain momentum or Adam step).
  bool decay_bias_and_norm = true;
  double bias_lr_mult = 1.0;  // the lr of the bias/norm entries is lr * bias_lr_mult
  // Transfer learning: entries whose name starts with a frozen prefix get lr multiplier 0
  // and no weight decay or L1; otherwise the longest matching lr_mults prefix multiplies their lr
  // (times bias_lr_mult). A prefix matches a name equal to it or followed by '.'.
  std::vector<std::string> freeze;  // parameter-name prefixes (train/transfer.h expands model.freeze)
  std::vector<std::pair<std::string, double>> lr_mults;  // optim.lr_mult
};

// The range of every field (InputError naming its optim.* key); make_optimizer checks it too.
void check_options(const OptimOptions& o);

// A run of arena floats that share one weight decay, one L1 strength and one lr multiplier. The padding after an
// entry goes with it (it is zero and stays zero: every update maps g = 0, theta = 0 to theta = 0).
struct ParamGroup {
  int64_t begin, end;
  float weight_decay;
  float lr_mult;
  float l1 = 0.0f;  // lambda_1; sign(0) = 0 keeps the zero padding at zero
};

// d|theta|/dtheta as the L1 penalty uses it: sign(theta), with sign(0) = 0.
// True when `prefix` names `name` or a module above it ("net.1" matches "net.1.weight", not "net.10.weight").
bool matches_prefix(const std::string& name, const std::string& prefix);

inline float l1_sign(float theta) { return theta > 0.0f ? 1.0f : (theta < 0.0f ? -1.0f : 0.0f); }
// Consecutive entries with the same settings merged into one group.
std::vector<ParamGroup> param_groups(const nn::ParameterArena& arena, const OptimOptions& o);
// One group per arena entry (its padding included), never merged: the layer-wise optimizers (lars,
// lamb) take norms per parameter tensor. Group i is arena.entries()[i].
std::vector<ParamGroup> entry_groups(const nn::ParameterArena& arena, const OptimOptions& o);

// The optimizer's state for a checkpoint: named float buffers (one float per arena float, or empty
// before the first step) and named step counters.
struct OptimState {
  std::vector<std::pair<std::string, std::vector<float>*>> buffers;
  std::vector<std::pair<std::string, int64_t*>> counters;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter from the gradients now in the arena. lr is gamma at this step;
  // momentum is the schedule's momentum: mu for sgd and rmsprop, beta1 for adam/adamw, unused by adagrad.
  virtual void step(float lr, float momentum) = 0;
  virtual OptimState state() = 0;
  // The momentum (or beta1) this optimizer starts from, for schedules that keep it fixed.
  virtual float base_momentum() const = 0;
};

struct OptimizerEntry {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<Optimizer>(nn::ParameterArena&, const OptimOptions&)> make;
  // The config keys it reads beyond lr, weight decay and L1 (optim.momentum or optim.beta1: the one a
  // momentum-cycling schedule moves).
  std::vector<std::string> keys;
  bool cuda = false;  // has a GPU path (device: cuda refuses the others before a run starts)
};

const std::vector<OptimizerEntry>& optimizer_registry();
// True when the optimizer named `name` declares it reads the config key `key` (its row's keys).
bool optimizer_reads(const std::string& name, const std::string& key);

// InputError naming optim.name when `name` has no GPU path and the run is on the GPU (on_cuda);
// the message lists the optimizers that have one (the registry's rows with cuda set).
void check_runs_on_cuda(const std::string& name, bool on_cuda);

// The optimizer named by o.name (InputError naming optim.name and the known names otherwise, or when
// the arena is on the GPU and the optimizer has no GPU path). The arena must outlive it.
std::unique_ptr<Optimizer> make_optimizer(nn::ParameterArena& arena, const OptimOptions& o);

}  // namespace cvtrain::optim
