// Parameter groups and the table of optimizers.
#include "cvtrain/optim/optimizer.h"

#include "cvtrain/base/error.h"
#include "cvtrain/optim/adaptive.h"
#include "cvtrain/optim/sgd.h"

namespace cvtrain::optim {

bool matches_prefix(const std::string& name, const std::string& prefix) {
  if (prefix.empty() || name.compare(0, prefix.size(), prefix) != 0) return false;
  return name.size() == prefix.size() || name[prefix.size()] == '.' || prefix.back() == '.';
}

std::vector<ParamGroup> param_groups(const nn::ParameterArena& arena, const OptimOptions& o) {
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
    if (!(f >= 0.0f)) fail_input("optim.lr_mult: ", p, ": the factor must be >= 0, got ", f);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const bool bias = entries[i].is_bias_or_norm;
    bool frozen = false;
    for (const std::string& p : o.freeze) frozen = frozen || matches_prefix(entries[i].name, p);
    float layer_mult = 1.0f;
    size_t longest = 0;
    for (const auto& [p, f] : o.lr_mults)
      if (p.size() >= longest && matches_prefix(entries[i].name, p)) layer_mult = f, longest = p.size();
    const float lambda = frozen ? 0.0f : (o.decay_bias_and_norm || !bias) ? o.weight_decay : 0.0f;
    const float lambda1 = frozen ? 0.0f : (o.decay_bias_and_norm || !bias) ? o.l1 : 0.0f;
    const float mult = frozen ? 0.0f : (bias ? o.bias_lr_mult : 1.0f) * layer_mult;
    const int64_t end = i + 1 < entries.size() ? entries[i + 1].offset : arena.size();
    if (!groups.empty() && groups.back().weight_decay == lambda && groups.back().lr_mult == mult &&
        groups.back().l1 == lambda1)
      groups.back().end = end;
    else
      groups.push_back({i == 0 ? 0 : entries[i].offset, end, lambda, mult, lambda1});
  }
  return groups;
}

namespace {

std::unique_ptr<Optimizer> make_sgd(nn::ParameterArena& arena, const OptimOptions& o) {
  SgdOptions s;
  s.momentum = o.momentum;
  s.dampening = o.dampening;
  s.weight_decay = o.weight_decay;
  s.l1 = o.l1;
  s.nesterov = o.nesterov;
  s.decay_bias_and_norm = o.decay_bias_and_norm;
  s.bias_lr_mult = o.bias_lr_mult;
  s.freeze = o.freeze;
  s.lr_mults = o.lr_mults;
  return std::make_unique<SGD>(arena, s);
}

}  // namespace

const std::vector<OptimizerEntry>& optimizer_registry() {
  static const std::vector<OptimizerEntry> table = {
      {"sgd", "SGD with momentum, dampening, Nesterov; L2 weight decay (torch.optim.SGD), L1", make_sgd,
       {"optim.momentum", "optim.dampening", "optim.nesterov"}},
      {"adam", "Adam, L2 weight decay on the gradient (torch.optim.Adam)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<Adam>(a, o, false); },
       {"optim.beta1", "optim.beta2", "optim.eps"}},
      {"adamw", "Adam with decoupled weight decay (torch.optim.AdamW)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<Adam>(a, o, true); },
       {"optim.beta1", "optim.beta2", "optim.eps"}},
      {"rmsprop", "RMSprop with optional momentum and centering (torch.optim.RMSprop)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<RMSprop>(a, o); },
       {"optim.momentum", "optim.alpha", "optim.eps", "optim.centered"}},
      {"adagrad", "Adagrad with lr decay (torch.optim.Adagrad)",
       [](nn::ParameterArena& a, const OptimOptions& o) { return std::make_unique<Adagrad>(a, o); },
       {"optim.eps", "optim.lr_decay", "optim.initial_accumulator"}},
  };
  return table;
}

std::unique_ptr<Optimizer> make_optimizer(nn::ParameterArena& arena, const OptimOptions& o) {
  std::string known;
  for (const OptimizerEntry& e : optimizer_registry()) {
    if (e.name == o.name) {
      if (!(o.weight_decay >= 0.0f)) fail_input("optim.weight_decay must be >= 0, got ", o.weight_decay);
      if (!(o.l1 >= 0.0f)) fail_input("optim.l1 must be >= 0, got ", o.l1);
      if (!(o.bias_lr_mult >= 0.0f)) fail_input("optim.bias_lr_mult must be >= 0, got ", o.bias_lr_mult);
      return e.make(arena, o);
    }
    known += (known.empty() ? "" : ", ") + e.name;
  }
  fail_input("optim.name: unknown optimizer '", o.name, "' (known: ", known, ")");
}

}  // namespace cvtrain::optim
