// Transfer learning: name-and-shape matching of state dicts, the head, freezing and lr multipliers.
#include "cvtrain/train/transfer.h"

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cvtrain/base/error.h"
#include "cvtrain/tensor/safetensors.h"
#include "cvtrain/train/trainer.h"
#include "cvtrain/train/weights.h"

namespace cvtrain {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The source's names mapped to the model's: checkpoint and DataParallel prefixes removed.
nn::StateDict normalize_names(const nn::StateDict& source, std::vector<std::pair<std::string, std::string>>& skipped) {
  bool checkpoint = false, data_parallel = !source.empty();
  for (const auto& [name, t] : source) {
    checkpoint = checkpoint || starts_with(name, "model.") || name == "ema";
    data_parallel = data_parallel && starts_with(name, "module.");
  }
  bool any_optim = false;
  for (const auto& [name, t] : source) any_optim = any_optim || starts_with(name, "optim.") || name == "ema";
  checkpoint = checkpoint && any_optim;  // a model whose own names start with "model." stays as it is
  nn::StateDict out;
  for (const auto& [name, t] : source) {
    if (checkpoint) {
      if (starts_with(name, "model.")) out.emplace_back(name.substr(6), t);
      else skipped.emplace_back(name, "checkpoint state, not model weights");
    } else if (data_parallel) {
      out.emplace_back(name.substr(7), t);
    } else {
      out.emplace_back(name, t);
    }
  }
  return out;
}

}  // namespace

std::string TransferReport::text() const {
  std::ostringstream o;
  o << "model.init_from " << source << ": " << loaded.size() << " loaded, " << skipped.size() << " skipped, "
    << initialized.size() << " newly initialized\n";
  for (const auto& s : loaded) o << "  loaded       " << s << "\n";
  for (const auto& [name, why] : skipped) o << "  skipped      " << name << ": " << why << "\n";
  for (const auto& s : initialized) o << "  initialized  " << s << "\n";
  return o.str();
}

std::string resolve_model_path(const std::string& path, const std::string& key) {
  namespace fs = std::filesystem;
  std::string p = path;
  if (fs::is_directory(p)) p = (fs::path(p) / "model.safetensors").string();
  if (!fs::is_regular_file(p)) fail_input(key, ": ", p, ": no such model file (a .safetensors file or a run folder)");
  return p;
}

std::string head_prefix(const std::vector<std::pair<std::string, Shape>>& names_shapes) {
  const std::string suffix = ".weight";
  for (auto it = names_shapes.rbegin(); it != names_shapes.rend(); ++it) {
    const std::string& n = it->first;
    if (it->second.size() == 2 && n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      return n.substr(0, n.size() - suffix.size());
  }
  return "";
}

std::string head_prefix(nn::Module& model) {
  std::vector<std::pair<std::string, Shape>> ns;
  for (auto& [name, v] : model.named_parameters()) ns.emplace_back(name, v->data().shape());
  return head_prefix(ns);
}

TransferReport load_matching(nn::Module& model, const nn::StateDict& source, const std::string& source_name,
                             const std::vector<std::string>& keep_fresh) {
  TransferReport r;
  r.source = source_name;
  const nn::StateDict mapped = normalize_names(source, r.skipped);
  nn::StateDict own = model.state_dict();
  nn::StateDict take;
  std::vector<bool> got(own.size(), false);
  for (const auto& [name, t] : mapped) {
    size_t j = 0;
    while (j < own.size() && own[j].first != name) ++j;
    if (j == own.size()) {
      r.skipped.emplace_back(name, "not in the model");
      continue;
    }
    const Tensor& mine = own[j].second;
    bool fresh = false;
    for (const std::string& p : keep_fresh) fresh = fresh || optim::matches_prefix(name, p);
    if (fresh) {
      r.skipped.emplace_back(name, "model.reset_head: the head starts fresh");
    } else if (t.shape() != mine.shape()) {
      r.skipped.emplace_back(name, "shape " + shape_str(t.shape()) + " in the file, " + shape_str(mine.shape()) +
                                       " in the model");
    } else if (t.dtype() != mine.dtype()) {
      r.skipped.emplace_back(name, "dtype differs from the model's");
    } else {
      take.emplace_back(name, t);
      got[j] = true;
      r.loaded.push_back(name + " " + shape_str(t.shape()));
    }
  }
  for (size_t j = 0; j < own.size(); ++j)
    if (!got[j]) r.initialized.push_back(own[j].first + " " + shape_str(own[j].second.shape()));
  model.load_state_dict(take, /*strict=*/false);
  return r;
}

void load_state_dict_file(nn::Module& model, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) fail_input("--weights ", path, ": no such file");
  if (!fs::is_regular_file(path, ec)) fail_input("--weights ", path, ": not a regular file; give a .safetensors state_dict");
  SafetensorsFile file = read_safetensors(path);
  std::vector<std::pair<std::string, std::string>> skipped;  // a checkpoint's optimizer state: not weights
  WeightsFile w{path, false, normalize_names(file.tensors, skipped), std::move(file.metadata)};
  const std::string counter = "num_batches_tracked";
  for (auto& [name, t] : model.state_dict()) {
    const bool is_counter = name.size() >= counter.size() && name.compare(name.size() - counter.size(), counter.size(), counter) == 0;
    bool given = false;
    for (const auto& [n, v] : w.state) given = given || n == name;
    if (is_counter && !given) w.state.emplace_back(name, t.clone());
  }
  load_weights(model, w);
}

std::string apply_transfer(const RunConfig& cfg, nn::Module& model) {
  // model.freeze and optim.lr_mult checked now, before the run writes anything
  auto check_prefix = [&](const std::string& p, const char* key) {
    for (auto& [name, v] : model.named_parameters())
      if (optim::matches_prefix(name, p)) return;
    fail_input(key, ": '", p, "' names no parameter of ", cfg.model.name, " (names such as '",
               model.named_parameters().front().first, "')");
  };
  for (const std::string& p : cfg.transfer.freeze)
    if (p != "backbone") check_prefix(p, "model.freeze");
  for (const auto& [p, f] : cfg.optim.lr_mults)
    if (p != "backbone") check_prefix(p, "optim.lr_mult");
  std::vector<std::string> fresh;
  if (cfg.transfer.reset_head > 0) {
    const std::string head = head_prefix(model);
    if (head.empty()) fail_input("model.reset_head: the model '", cfg.model.name, "' has no final linear layer");
    int64_t classes = 0;
    for (auto& [name, v] : model.named_parameters())
      if (name == head + ".weight") classes = v->data().size(0);
    if (classes != cfg.transfer.reset_head)
      fail_input("model.reset_head: ", cfg.transfer.reset_head, " classes, but the training data has ", classes,
                 " (data.classes selects the classes)");
    fresh.push_back(head);
  }
  if (cfg.transfer.init_from.empty()) return "";
  const std::string path = resolve_model_path(cfg.transfer.init_from, "model.init_from");
  SafetensorsFile file = read_safetensors(path);
  const TransferReport report = load_matching(model, file.tensors, path, fresh);
  if (cfg.transfer.init_strict) {  // a tensor the file does not supply is an error, a reset head aside
    std::vector<std::string> missing;
    for (const std::string& t : report.initialized) {
      bool is_fresh = false;
      for (const std::string& p : fresh) is_fresh = is_fresh || optim::matches_prefix(t.substr(0, t.find(' ')), p);
      if (!is_fresh) missing.push_back(t);
    }
    if (!missing.empty()) {
      std::string why;
      for (const auto& [name, reason] : report.skipped)
        if (why.empty() && reason.rfind("shape", 0) == 0) why = "; e.g. " + name + ": " + reason;
      fail_input("model.init_from: ", path, " supplies ", report.loaded.size(), " of the model's tensors; ",
                 missing.size(), " are missing or mismatched (first: ", missing.front(), why,
                 "); set model.init_strict: false to start those from the model's init");
    }
  }
  return report.text();
}

namespace {

// The names of the arena's entries outside the head ("backbone" of `key`).
std::vector<std::string> backbone_entries(const nn::ParameterArena& arena, const char* key) {
  std::vector<std::pair<std::string, Shape>> ns;
  for (const auto& e : arena.entries()) ns.emplace_back(e.name, e.shape);
  const std::string head = head_prefix(ns);
  if (head.empty()) fail_input(key, ": backbone: the model has no final linear layer to tell it from");
  std::vector<std::string> out;
  for (const auto& e : arena.entries())
    if (!optim::matches_prefix(e.name, head)) out.push_back(e.name);
  return out;
}

}  // namespace

std::vector<std::string> freeze_prefixes(const RunConfig& cfg, const nn::ParameterArena& arena) {
  std::vector<std::string> out;
  for (const std::string& p : cfg.transfer.freeze) {
    if (p != "backbone") {
      out.push_back(p);
      continue;
    }
    for (std::string& name : backbone_entries(arena, "model.freeze")) out.push_back(std::move(name));
  }
  return out;
}

std::vector<std::pair<std::string, double>> lr_mult_prefixes(const RunConfig& cfg, const nn::ParameterArena& arena) {
  std::vector<std::pair<std::string, double>> out;
  const std::pair<std::string, double>* backbone = nullptr;
  for (const auto& pm : cfg.optim.lr_mults)
    if (pm.first == "backbone") backbone = &pm;
    else out.push_back(pm);
  if (!backbone) return out;
  const std::vector<std::pair<std::string, double>> named = out;  // "backbone" is the shortest prefix
  for (const std::string& name : backbone_entries(arena, "optim.lr_mult")) {
    bool other = false;
    for (const auto& [p, f] : named) other = other || optim::matches_prefix(name, p);
    if (!other) out.emplace_back(name, backbone->second);
  }
  return out;
}

optim::OptimOptions transfer_optim_options(const RunConfig& cfg, const nn::ParameterArena& arena) {
  optim::OptimOptions o = cfg.optim;
  o.freeze = freeze_prefixes(cfg, arena);
  o.lr_mults = lr_mult_prefixes(cfg, arena);
  return o;
}

namespace {

// Sets requires_grad of the parameters under `prefixes`; returns how many changed.
int64_t set_requires_grad_under(nn::Module& model, const std::vector<std::string>& prefixes, bool on) {
  int64_t n = 0;
  for (auto& [name, var] : model.named_parameters()) {
    bool under = false;
    for (const std::string& p : prefixes) under = under || optim::matches_prefix(name, p);
    if (under && var->requires_grad() != on) var->set_requires_grad(on), ++n;
  }
  return n;
}

}  // namespace

int64_t stop_frozen_gradients(nn::Module& model, const std::vector<std::string>& prefixes) {
  return set_requires_grad_under(model, prefixes, false);
}

int64_t restart_frozen_gradients(nn::Module& model, const std::vector<std::string>& prefixes) {
  return set_requires_grad_under(model, prefixes, true);
}

int64_t freeze_batchnorm(nn::Module& model) {
  int64_t n = 0;
  if (model.type().rfind("BatchNorm", 0) == 0) {
    model.eval();
    ++n;
  }
  for (const auto& [name, child] : model.children()) n += freeze_batchnorm(*child);
  return n;
}

int64_t count_batchnorm(const nn::Module& model) {
  int64_t n = model.type().rfind("BatchNorm", 0) == 0;
  for (const auto& [name, child] : model.children()) n += count_batchnorm(*child);
  return n;
}

}  // namespace cvtrain
