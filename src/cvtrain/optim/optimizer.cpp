// Parameter groups and the table of optimizers.
#include "cvtrain/optim/optimizer.h"

#include <algorithm>

#include "cvtrain/base/error.h"
#include "cvtrain/optim/adaptive.h"
#include "cvtrain/optim/layerwise.h"
#include "cvtrain/optim/sgd.h"

namespace cvtrain::optim {

bool matches_prefix(const std::string& name, const std::string& prefix) {
  if (prefix.empty() || name.compare(0, prefix.size(), prefix) != 0) return false;
  return name.size() == prefix.size() || name[prefix.size()] == '.' || prefix.back() == '.';
}

std::vector<ParamGroup> entry_groups(const nn::ParameterArena& arena, const OptimOptions& o) {
  std::vector<ParamGroup> groups;
  const auto& entries = arena.entries();
  const std::string example = entries.empty() ? std::string() : entries.front().name;
  for (const std::string& p : o.freeze) {
    bool used = false;
    for (const auto& e : entries) used = used || matches_prefix(e.name, p);
    if (!used) fail_input("model.freeze: '", p, "' names no parameter (names such as '", example, "')");
  }
  for (const auto& [p, f] : o.lr_mults) {
    bool used = false;
    for (const auto& e : entries) used = used || matches_prefix(e.name, p);
    if (!used) fail_input("optim.lr_mult: '", p, "' names no parameter (names such as '", example, "')");
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const bool bias = entries[i].is_bias_or_norm;
    bool frozen = false;
    for (const std::string& p : o.freeze) frozen = frozen || matches_prefix(entries[i].name, p);
    float layer_mult = 1.0f;
    size_t longest = 0;
    for (const auto& [p, f] : o.lr_mults)
      if (p.size() >= longest && matches_prefix(entries[i].name, p)) layer_mult = static_cast<float>(f), longest = p.size();
    const bool decayed = !frozen && (o.decay_bias_and_norm || !bias);
    const float lambda = decayed ? static_cast<float>(o.weight_decay) : 0.0f;
    const float lambda1 = decayed ? static_cast<float>(o.l1) : 0.0f;
    const float mult = frozen ? 0.0f : (bias ? static_cast<float>(o.bias_lr_mult) : 1.0f) * layer_mult;
    const int64_t end = i + 1 < entries.size() ? entries[i + 1].offset : arena.size();
    groups.push_back({i == 0 ? 0 : entries[i].offset, end, lambda, mult, lambda1});
  }
  return groups;
}

std::vector<ParamGroup> param_groups(const nn::ParameterArena& arena, const OptimOptions& o) {
  std::vector<ParamGroup> groups;
  for (const ParamGroup& g : entry_groups(arena, o)) {
    if (!groups.empty() && groups.back().weight_decay == g.weight_decay && groups.back().lr_mult == g.lr_mult &&
        groups.back().l1 == g.l1)
      groups.back().end = g.end;
    else
      groups.push_back(g);
  }
  return groups;
}

void check_options(const OptimOptions& o) {
  auto need = [](bool ok, const char* key, const char* what, double got) {
    if (!ok) fail_input(key, ": ", what, ", got ", got);
  };
  need(o.weight_decay >= 0, "optim.weight_decay", "must be >= 0", o.weight_decay);
  need(o.l1 >= 0, "optim.l1", "must be >= 0", o.l1);
  need(o.momentum >= 0 && o.momentum < 1, "optim.momentum", "must be in [0, 1)", o.momentum);
  need(o.dampening >= 0, "optim.dampening", "must be >= 0", o.dampening);
  need(o.name != "sgd" || !o.nesterov || o.dampening == 0, "optim.dampening",
       "Nesterov momentum (optim.nesterov) requires zero dampening", o.dampening);
  need(o.beta1 >= 0 && o.beta1 < 1, "optim.beta1", "must be in [0, 1)", o.beta1);
  need(o.beta2 >= 0 && o.beta2 < 1, "optim.beta2", "must be in [0, 1)", o.beta2);
  need(o.eps == -1.0 || o.eps > 0, "optim.eps", "must be > 0 (or -1 for the optimizer's default)", o.eps);
  need(o.alpha >= 0 && o.alpha < 1, "optim.alpha", "must be in [0, 1)", o.alpha);
  need(o.lr_decay >= 0, "optim.lr_decay", "must be >= 0", o.lr_decay);
  need(o.initial_accumulator >= 0, "optim.initial_accumulator", "must be >= 0", o.initial_accumulator);
  need(o.trust_coefficient > 0, "optim.trust_coefficient", "must be > 0", o.trust_coefficient);
  need(o.bias_lr_mult >= 0, "optim.bias_lr_mult", "must be >= 0", o.bias_lr_mult);
  for (const auto& [prefix, factor] : o.lr_mults) {
    if (prefix.empty()) fail_input("optim.lr_mult: an empty name prefix");
    need(factor >= 0, "optim.lr_mult", ("the factor of '" + prefix + "' must be >= 0").c_str(), factor);
  }
  for (const std::string& prefix : o.freeze)
    if (prefix.empty()) fail_input("model.freeze: an empty prefix");
}

const std::vector<OptimizerEntry>& optimizer_registry() {
  static const std::vector<OptimizerEntry> table = {
      {"sgd", "SGD with momentum, dampening, Nesterov; L2 weight decay (torch.optim.SGD), L1",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<SGD>(a, o); },
       {"optim.momentum", "optim.dampening", "optim.nesterov"}, true},
      {"adam", "Adam, L2 weight decay on the gradient (torch.optim.Adam)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<Adam>(a, o, false); },
       {"optim.beta1", "optim.beta2", "optim.eps"}, true},
      {"adamw", "Adam with decoupled weight decay (torch.optim.AdamW)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<Adam>(a, o, true); },
       {"optim.beta1", "optim.beta2", "optim.eps"}, true},
      {"rmsprop", "RMSprop with optional momentum and centering (torch.optim.RMSprop)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<RMSprop>(a, o); },
       {"optim.momentum", "optim.alpha", "optim.eps", "optim.centered"}},
      {"adagrad", "Adagrad with lr decay (torch.optim.Adagrad)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<Adagrad>(a, o); },
       {"optim.eps", "optim.lr_decay", "optim.initial_accumulator"}},
      {"lars", "LARS: momentum SGD with a per-layer trust ratio (You et al. 2017; timm's Lars)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<LARS>(a, o); },
       {"optim.momentum", "optim.trust_coefficient", "optim.eps", "optim.decay_bias_and_norm"}},
      {"lamb", "LAMB: Adam moments with a per-layer trust ratio (You et al. 2019; timm's Lamb)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<LAMB>(a, o); },
       {"optim.beta1", "optim.beta2", "optim.eps", "optim.decay_bias_and_norm"}},
  };
  return table;
}

bool optimizer_reads(const std::string& name, const std::string& key) {
  for (const OptimizerEntry& e : optimizer_registry())
    if (e.name == name) return std::find(e.keys.begin(), e.keys.end(), key) != e.keys.end();
  return false;
}

void check_runs_on_cuda(const std::string& name, bool on_cuda) {
  if (!on_cuda) return;
  std::string gpu;
  for (const OptimizerEntry& e : optimizer_registry()) {
    if (e.name == name && e.cuda) return;
    if (e.cuda) gpu += (gpu.empty() ? "" : ", ") + e.name;
  }
  fail_input("optim.name: ", name, " runs on the CPU only so far; with device: cuda use ", gpu);
}

std::unique_ptr<Optimizer> make_optimizer(nn::ParameterArena& arena, const OptimOptions& o) {
  std::string known;
  for (const OptimizerEntry& e : optimizer_registry()) {
    if (e.name == o.name) {
      check_runs_on_cuda(e.name, arena.on_cuda());
      return e.make(arena, o);
    }
    known += (known.empty() ? "" : ", ") + e.name;
  }
  fail_input("optim.name: unknown optimizer '", o.name, "' (known: ", known, ")");
}

}  // namespace cvtrain::optim
