// `cvtrain ensemble RUN_OR_MODEL... [--snapshots] [--tta MODE] [--logits] [--json]`: load each member
// (a run folder's model.safetensors, or a model file; with --snapshots, a run's snapshots/), predict
// the shared test set (train/ensemble.h), and report each member's accuracy, the ensemble's, and
// the EMA weights of each run whose last checkpoint holds them (compared, not averaged in).
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cvtrain/cli/commands.h"
#include "cvtrain/cli/progress.h"
#include "cvtrain/data/resize.h"
#include "cvtrain/train/config.h"
#include "cvtrain/data/tta.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/train/checkpoint.h"
#include "cvtrain/train/ensemble.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/transfer.h"

namespace cvtrain::cli {
namespace fs = std::filesystem;

namespace {

struct Loaded {
  RunConfig cfg;
  Normalization norm;
  Preprocess fitted;
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<nn::ParameterArena> arena;  // EMA members: the weights live here
};

std::string class_list(const RunConfig& c) {
  std::string out;
  for (int64_t k : c.data.classes) out += std::to_string(k) + ",";
  return out;
}

// Members with the same key are evaluated on the same test images.
std::string data_key(const RunConfig& c) {
  return c.data.dataset + "|" + c.data.root + "|" + std::to_string(c.data.limit_test) + "|" +
         std::to_string(c.data.val_fraction) + "|" + class_list(c) + "|" + std::to_string(c.seed * (c.data.val_fraction > 0)) +
         "|" + image_spec_json(image_spec(c.data));  // members trained at other sizes see other pixels
}

struct TestSets {
  std::map<std::string, Dataset> by_key;
  const Dataset& get(const RunConfig& cfg) {
    auto it = by_key.find(data_key(cfg));
    if (it == by_key.end()) it = by_key.emplace(data_key(cfg), load_split(cfg, Split::test)).first;
    return it->second;
  }
};

Loaded load_member(const std::string& path, const std::vector<std::string>& overrides, TestSets& sets, Rng& rng) {
  Loaded m;
  const auto meta = read_model_metadata(path);
  auto it = meta.find("config");
  if (it == meta.end()) fail_input(path, ": no 'config' entry in the metadata; not a cvtrain model file");
  m.cfg = parse_stored_config(it->second, path + " (metadata config)", overrides, StoredUse::evaluate);
  m.norm = normalization_from_metadata(meta, path);
  m.fitted = preprocess_from_metadata(meta, path);
  m.model = make_stored_model(m.cfg, sets.get(m.cfg), m.norm, m.fitted, fs::file_size(path), path, rng);
  load_model_file(path, *m.model);
  return m;
}

// The EMA weights of a run's newest checkpoint (parameters, then the f32 buffers when the trainer
// averaged them too); nullopt-like empty model when the run kept none.
bool load_ema(const std::string& run_dir, const std::vector<std::string>& overrides, TestSets& sets, Rng& rng,
              Loaded& m, std::string& from) {
  if (!fs::is_directory(run_dir)) return false;
  from = latest_good_checkpoint(run_dir);
  if (from.empty()) return false;
  CheckpointContents ck = read_checkpoint(from);
  if (ck.ema.empty()) return false;
  auto it = ck.metadata.find("config");
  if (it == ck.metadata.end()) return false;
  m.cfg = parse_stored_config(it->second, from + " (metadata config)", overrides, StoredUse::evaluate);
  m.norm = normalization_from_metadata(ck.metadata, from);
  m.fitted = preprocess_from_metadata(ck.metadata, from);
  m.model = make_stored_model(m.cfg, sets.get(m.cfg), m.norm, m.fitted, fs::file_size(from), from, rng);
  m.model->load_state_dict(ck.model, /*strict=*/true);
  m.arena = std::make_unique<nn::ParameterArena>(*m.model);
  const int64_t n = m.arena->size();
  int64_t buffers = 0;
  for (auto& [name, t] : m.model->named_buffers())
    if (t->dtype() == DType::f32) buffers += t->numel();
  const auto size = static_cast<int64_t>(ck.ema.size());
  if (size != n && size != n + buffers)
    fail_input(from, ": EMA of ", size, " floats for a model of ", n, " parameter floats");
  std::copy(ck.ema.begin(), ck.ema.begin() + n, m.arena->data());
  if (size == n + buffers) {
    int64_t at = n;
    for (auto& [name, t] : m.model->named_buffers()) {
      if (t->dtype() != DType::f32) continue;
      Tensor c = t->contiguous();
      CHECK(c.data<float>() == t->data<float>(), "EMA: buffer ", name, " is not contiguous");
      std::copy(ck.ema.begin() + at, ck.ema.begin() + at + t->numel(), t->data<float>());
      at += t->numel();
    }
  }
  return true;
}

// The members as (label, model file): each run's model, or with --snapshots each run's snapshots.
std::vector<std::pair<std::string, std::string>> member_paths(const EnsembleArgs& a) {
  std::vector<std::pair<std::string, std::string>> paths;
  for (const std::string& m : a.members) {
    if (!a.snapshots) {
      paths.emplace_back(m, resolve_model_path(run_weights_path(m, a.weights), "ensemble"));
      continue;
    }
    if (!fs::is_directory(m)) fail_input("ensemble --snapshots: ", m, " is not a run folder");
    if (!a.weights.empty()) fail_input("ensemble: --snapshots takes each run's snapshots; drop --weights");
    const auto snaps = list_snapshots(m);
    if (snaps.empty())
      fail_input(m, ": no snapshots/epoch-*.safetensors (train with train.snapshots: true and a cyclic schedule)");
    for (const auto& s : snaps) paths.emplace_back(fs::path(s).stem().string(), s);
  }
  return paths;
}

void print_table(const EnsembleArgs& a, size_t n, int64_t images, const nlohmann::json& members, const Score& ens,
                 double best_member, const nlohmann::json& extras) {
  std::printf("ensemble of %zu on %lld test images (average of %s, tta %s)\n", n, static_cast<long long>(images),
              a.logits ? "logits" : "probabilities", a.tta.c_str());
  std::printf("  %-44s %9s %9s\n", "model", "test_acc", "nll");
  for (const auto& m : members)
    std::printf("  %-44s %8.2f%% %9.4f\n", m["member"].get<std::string>().c_str(), 100 * m["test_acc"].get<double>(),
                m["test_nll"].get<double>());
  std::printf("  %-44s %8.2f%% %9.4f   (%+.2f points over the best member)\n", "ENSEMBLE", 100 * ens.accuracy, ens.nll,
              100 * (ens.accuracy - best_member));
  for (const auto& e : extras)
    std::printf("  %-44s %8.2f%% %9.4f   (compared, not a member)\n", e["model"].get<std::string>().c_str(),
                100 * e["test_acc"].get<double>(), e["test_nll"].get<double>());
}

}  // namespace

int cmd_ensemble(const EnsembleArgs& a) {
  tta_view_count(a.tta);  // checks --tta before the work
  if (a.members.empty()) fail_input("ensemble: give run folders or model files");
  const std::vector<std::pair<std::string, std::string>> paths = member_paths(a);  // label, file
  RunConfig first_cfg;
  {
    const auto meta = read_model_metadata(paths.front().second);
    auto it = meta.find("config");
    if (it == meta.end()) fail_input(paths.front().second, ": not a cvtrain model file (no config in the metadata)");
    first_cfg = parse_stored_config(it->second, paths.front().second, a.overrides, StoredUse::evaluate);
  }
  apply_threads(first_cfg);
  Context ctx(static_cast<uint64_t>(first_cfg.seed), static_cast<int>(first_cfg.threads));
  TestSets sets;
  const Dataset& test = sets.get(first_cfg);

  Progress progress(true);  // on a terminal only
  auto run = [&](Loaded& m, const std::string& label) {
    const Dataset& own = sets.get(m.cfg);
    if (own.size() != test.size() ||
        !std::equal(own.labels.data<int64_t>(), own.labels.data<int64_t>() + own.size(), test.labels.data<int64_t>()))
      fail_input("ensemble: ", label, " is evaluated on a different test set than the first member (data.*)");
    set_cpu_runtime(ctx, m.cfg);  // each member in the precision it trained in
    Predictions p = predict(ctx, *m.model, test, m.norm, m.fitted, m.cfg.train.eval_batch_size, a.tta,
                            tta_padding(m.cfg), a.logits, progress.pass("evaluating " + label));
    progress.clear();
    return p;
  };

  std::vector<Predictions> preds;
  nlohmann::json members = nlohmann::json::array(), extras = nlohmann::json::array();
  double best_member = 0;
  for (const auto& [label, path] : paths) {
    Loaded m = load_member(path, a.overrides, sets, ctx.rng);
    preds.push_back(run(m, label));
    const Score s = score(preds.back(), test.labels);
    best_member = std::max(best_member, s.accuracy);
    members.push_back({{"member", label}, {"path", path}, {"test_acc", s.accuracy}, {"test_nll", s.nll}});
  }
  const Score ens = score(average(preds), test.labels);
  // Comparisons, not members: each run's EMA weights; with --snapshots also the final model.
  for (const std::string& m : a.members) {
    if (a.snapshots) {
      Loaded f = load_member(resolve_model_path(m, "ensemble"), a.overrides, sets, ctx.rng);
      const Score s = score(run(f, m + " final"), test.labels);
      extras.push_back({{"model", m + " final"}, {"test_acc", s.accuracy}, {"test_nll", s.nll}});
    }
    Loaded e;
    std::string from;
    // a run's model.safetensors stands for its run folder
    const std::string run_dir = fs::path(m).filename() == "model.safetensors" ? fs::path(m).parent_path().string() : m;
    if (load_ema(run_dir, a.overrides, sets, ctx.rng, e, from)) {
      const Score s = score(run(e, m + " ema"), test.labels);
      extras.push_back({{"model", m + " ema"}, {"path", from}, {"test_acc", s.accuracy}, {"test_nll", s.nll}});
    }
  }
  if (a.json) {
    nlohmann::json j = {{"images", test.size()},
                        {"tta", a.tta},
                        {"average", a.logits ? "logits" : "probabilities"},
                        {"members", members},
                        {"ensemble", {{"test_acc", ens.accuracy}, {"test_nll", ens.nll}}},
                        {"best_member_acc", best_member},
                        {"compared", extras}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  print_table(a, preds.size(), test.size(), members, ens, best_member, extras);
  return 0;
}

}  // namespace cvtrain::cli
