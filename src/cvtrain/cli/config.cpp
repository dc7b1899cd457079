// The config schema: one table of keys (path, field, documentation). Loading walks the YAML tree,
// rejects keys that are not in the table (suggesting the nearest one), converts each value to its
// field's type, then checks the values that can be impossible.
#include "cvtrain/cli/config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <variant>

#include <yaml-cpp/yaml.h>

#include "cvtrain/base/error.h"

namespace cvtrain::cli {
namespace {

using Field = std::variant<int64_t RunConfig::*, double RunConfig::*, bool RunConfig::*, std::string RunConfig::*>;

struct Key {
  const char* path;
  Field field;
  const char* doc;
};

// The one table of config keys. Add a key here and a field in train/run_config.h.
const std::vector<Key>& keys() {
  static const std::vector<Key> table = {
      {"seed", &RunConfig::seed, "Seed of every random draw (init, shuffling, dropout). Same seed and threads: same run."},
      {"threads", &RunConfig::threads, "CPU threads for compute (OpenMP and oneDNN). 0: all cores."},
      {"data.dataset", &RunConfig::data_dataset, "Dataset: fashion_mnist, mnist, or synthetic (small, in memory, for tests)."},
      {"data.root", &RunConfig::data_root, "Folder with the IDX files (raw or .gz)."},
      {"data.limit_train", &RunConfig::data_limit_train, "Use only the first N training images (0: all)."},
      {"data.limit_test", &RunConfig::data_limit_test, "Use only the first N test images (0: all)."},
      {"model.name", &RunConfig::model_name, "Model from the zoo: mlp, cnn (`cvtrain models` lists them)."},
      {"model.dropout", &RunConfig::model_dropout, "Dropout probability of the model's dropout layers (-1: the model's default)."},
      {"train.epochs", &RunConfig::train_epochs, "Passes over the training set."},
      {"train.batch_size", &RunConfig::train_batch_size, "Training batch size."},
      {"train.eval_batch_size", &RunConfig::train_eval_batch_size, "Batch size for evaluation (results do not depend on it; 128 measured fastest for the CNN)."},
      {"train.label_smoothing", &RunConfig::train_label_smoothing, "Label smoothing of the cross-entropy loss, in [0, 1)."},
      {"train.progress", &RunConfig::train_progress, "Show a progress bar when the output is a terminal."},
      {"optim.name", &RunConfig::optim_name, "Optimizer: sgd."},
      {"optim.lr", &RunConfig::optim_lr, "Peak learning rate (the schedule's maximum)."},
      {"optim.momentum", &RunConfig::optim_momentum, "SGD momentum (onecycle cycles it between 0.85 and 0.95 as PyTorch's OneCycleLR does)."},
      {"optim.dampening", &RunConfig::optim_dampening, "SGD dampening of the momentum."},
      {"optim.nesterov", &RunConfig::optim_nesterov, "Nesterov momentum."},
      {"optim.weight_decay", &RunConfig::optim_weight_decay, "L2 penalty added to the gradient (PyTorch's SGD weight_decay)."},
      {"optim.schedule", &RunConfig::optim_schedule, "Learning-rate schedule: constant, cosine, onecycle."},
      {"optim.pct_start", &RunConfig::optim_pct_start, "onecycle: fraction of the steps spent warming up."},
      {"optim.min_lr", &RunConfig::optim_min_lr, "cosine: the final learning rate."},
  };
  return table;
}

const Key* find_key(const std::string& path) {
  for (const Key& k : keys())
    if (path == k.path) return &k;
  return nullptr;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& path) {
  const Key* best = nullptr;
  size_t best_d = 4;  // suggest only near misses
  for (const Key& k : keys()) {
    size_t d = edit_distance(path, k.path);
    if (d < best_d) best_d = d, best = &k;
  }
  return best ? std::string(" (did you mean '") + best->path + "'?)" : std::string();
}

std::string type_name(const Field& f) {
  switch (f.index()) {
    case 0: return "an integer";
    case 1: return "a number";
    case 2: return "true or false";
    default: return "a string";
  }
}

// Converts a YAML scalar into the field; `where` names the key (and the file) in errors.
void assign(RunConfig& cfg, const Key& key, const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar())
    fail_input(where, ": expected ", type_name(key.field), ", got a ", node.IsMap() ? "mapping" : "list");
  const std::string text = node.Scalar();
  try {
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(cfg.*member)>;
          if constexpr (std::is_same_v<T, std::string>) {
            cfg.*member = text;
          } else {
            cfg.*member = node.as<T>();
          }
        },
        key.field);
  } catch (const YAML::Exception&) {
    fail_input(where, ": expected ", type_name(key.field), ", got '", text, "'");
  }
}

void walk(RunConfig& cfg, const YAML::Node& node, const std::string& prefix, const std::string& origin) {
  for (const auto& kv : node) {
    const std::string name = kv.first.as<std::string>();
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (const Key* key = find_key(path)) {
      assign(cfg, *key, kv.second, origin + ": " + path);
    } else if (kv.second.IsMap()) {
      bool is_section = false;
      for (const Key& k : keys()) is_section = is_section || std::string(k.path).rfind(path + ".", 0) == 0;
      if (!is_section) fail_input(origin, ": unknown key '", path, "'", suggestion(path));
      walk(cfg, kv.second, path, origin);
    } else {
      fail_input(origin, ": unknown key '", path, "'", suggestion(path));
    }
  }
}

void validate(const RunConfig& c, const std::string& origin) {
  auto need = [&](bool ok, const char* key, const std::string& what) {
    if (!ok) fail_input(origin, ": ", key, ": ", what);
  };
  need(c.threads >= 0, "threads", "must be >= 0, got " + std::to_string(c.threads));
  need(c.data_limit_train >= 0, "data.limit_train", "must be >= 0");
  need(c.data_limit_test >= 0, "data.limit_test", "must be >= 0");
  need(c.train_epochs >= 1, "train.epochs", "must be >= 1, got " + std::to_string(c.train_epochs));
  need(c.train_batch_size >= 1, "train.batch_size", "must be >= 1, got " + std::to_string(c.train_batch_size));
  need(c.train_eval_batch_size >= 1, "train.eval_batch_size", "must be >= 1");
  need(c.train_label_smoothing >= 0 && c.train_label_smoothing < 1, "train.label_smoothing", "must be in [0, 1)");
  need(c.model_dropout == -1.0 || (c.model_dropout >= 0 && c.model_dropout < 1), "model.dropout",
       "must be in [0, 1) or -1 for the model's default");
  need(c.optim_lr > 0, "optim.lr", "must be > 0");
  need(c.optim_momentum >= 0 && c.optim_momentum < 1, "optim.momentum", "must be in [0, 1)");
  need(c.optim_weight_decay >= 0, "optim.weight_decay", "must be >= 0");
  need(!c.optim_nesterov || c.optim_momentum > 0 || c.optim_schedule == "onecycle", "optim.nesterov",
       "needs momentum > 0");
  need(c.optim_pct_start > 0 && c.optim_pct_start < 1, "optim.pct_start", "must be in (0, 1)");
  need(c.optim_name == "sgd", "optim.name", "unknown optimizer '" + c.optim_name + "' (known: sgd)");
}

void apply_overrides(RunConfig& cfg, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) fail_input("--set ", o, ": expected key.path=value");
    const std::string path = o.substr(0, eq);
    const Key* key = find_key(path);
    if (!key) fail_input("--set: unknown key '", path, "'", suggestion(path));
    YAML::Node value;
    try {
      value = YAML::Load(o.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      fail_input("--set ", path, ": cannot parse the value: ", e.msg);
    }
    if (value.IsNull()) value = YAML::Node(std::string());
    assign(cfg, *key, value, "--set " + path);
  }
}

}  // namespace

RunConfig parse_config_text(const std::string& yaml, const std::string& origin,
                            const std::vector<std::string>& overrides) {
  RunConfig cfg;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    fail_input(origin, ":", e.mark.line + 1, ":", e.mark.column + 1, ": invalid YAML: ", e.msg);
  }
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap()) fail_input(origin, ": expected a mapping of config keys at the top level");
    walk(cfg, root, "", origin);
  }
  apply_overrides(cfg, overrides);
  validate(cfg, origin);
  return cfg;
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return parse_config_text("", "<defaults>", overrides);
  std::ifstream in(path);
  if (!in) fail_input(path, ": cannot open the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config_text(ss.str(), path, overrides);
}

std::string dump_config(const RunConfig& cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  bool in_section = false;
  for (const Key& k : keys()) {
    std::string path = k.path;
    auto dot = path.find('.');
    std::string sec = dot == std::string::npos ? "" : path.substr(0, dot);
    std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
    if (sec != section) {
      if (in_section) out << YAML::EndMap;
      in_section = !sec.empty();
      if (in_section) out << YAML::Key << sec << YAML::Value << YAML::BeginMap;
      section = sec;
    }
    out << YAML::Key << leaf << YAML::Value;
    std::visit([&](auto member) { out << cfg.*member; }, k.field);
  }
  if (in_section) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string config_reference_markdown() {
  RunConfig defaults;
  std::ostringstream md;
  md << "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const Key& k : keys()) {
    std::string def;
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(defaults.*member)>;
          std::ostringstream v;
          if constexpr (std::is_same_v<T, bool>) v << (defaults.*member ? "true" : "false");
          else v << defaults.*member;
          def = v.str();
        },
        k.field);
    std::string type = k.field.index() == 0 ? "int" : k.field.index() == 1 ? "float" : k.field.index() == 2 ? "bool" : "string";
    md << "| `" << k.path << "` | " << type << " | `" << def << "` | " << k.doc << " |\n";
  }
  return md.str();
}

}  // namespace cvtrain::cli
