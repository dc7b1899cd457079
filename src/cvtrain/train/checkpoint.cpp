// Checkpoint files: tensors "model.<name>", "optim.<buffer>", "ema"; metadata "cvtrain.checkpoint"
// (format version), "train_state" (JSON), "optim_counters" (JSON), the caller's strings, and
// "checksum": CRC32C over every tensor's name and bytes and every other metadata key and value.
#include "cvtrain/train/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/base/files.h"
#include "cvtrain/tensor/safetensors.h"

namespace cvtrain {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "1";

// The table for the reflected polynomial 0x82F63B78 (Castagnoli).
struct Crc32cTable {
  uint32_t t[256];
  constexpr Crc32cTable() : t() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};
constexpr Crc32cTable kCrcTable;

uint32_t checksum(const std::vector<std::pair<std::string, Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  uint32_t crc = 0;
  for (const auto& [name, t] : tensors) {
    crc = crc32c(name.data(), name.size(), crc);
    Tensor c = t.contiguous();
    crc = crc32c(c.raw_data(), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()), crc);
  }
  for (const auto& [k, v] : metadata) {
    if (k == "checksum") continue;
    crc = crc32c(k.data(), k.size(), crc);
    crc = crc32c(v.data(), v.size(), crc);
  }
  return crc;
}

nlohmann::json rng_json(const Rng::State& s) { return {s.seed, s.stream, s.seq}; }
Rng::State rng_from(const nlohmann::json& j) {
  return {j.at(0).get<uint64_t>(), j.at(1).get<uint64_t>(), j.at(2).get<uint64_t>()};
}

std::string state_json(const TrainState& s) {
  nlohmann::json j = {{"epoch", s.epoch},
                      {"batches_done", s.batches_done},
                      {"images_done", s.images_done},
                      {"world", s.world},
                      {"step", s.step},
                      {"rng_epoch_start", rng_json(s.rng_epoch_start)},
                      {"rng_now", rng_json(s.rng_now)},
                      {"loss_sum", s.loss_sum},
                      {"correct", s.correct},
                      {"seen", s.seen},
                      {"nonfinite_skipped", s.nonfinite_skipped},
                      {"best_acc", s.best_acc},
                      {"best_epoch", s.best_epoch},
                      {"evals_since_best", s.evals_since_best},
                      {"plateau", {std::isfinite(s.plateau_best) ? nlohmann::json(s.plateau_best) : nlohmann::json(nullptr),
                                   s.plateau_bad, s.plateau_lr}},
                      {"history", nlohmann::json::parse(s.history_json)}};
  return j.dump();
}

TrainState state_from(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text);
  TrainState s;
  s.epoch = j.at("epoch");
  s.batches_done = j.at("batches_done");
  s.images_done = j.value("images_done", int64_t{0});  // absent before data-parallel training
  s.world = j.value("world", int64_t{0});
  s.step = j.at("step");
  s.rng_epoch_start = rng_from(j.at("rng_epoch_start"));
  s.rng_now = rng_from(j.at("rng_now"));
  s.loss_sum = j.at("loss_sum");
  s.correct = j.at("correct");
  s.seen = j.at("seen");
  s.nonfinite_skipped = j.at("nonfinite_skipped");
  s.best_acc = j.at("best_acc");
  s.best_epoch = j.at("best_epoch");
  s.evals_since_best = j.at("evals_since_best");
  if (j.contains("plateau")) {  // [best (null: +inf), evaluations since, lr]
    const auto& p = j.at("plateau");
    s.plateau_best = p.at(0).is_null() ? std::numeric_limits<double>::infinity() : p.at(0).get<double>();
    s.plateau_bad = p.at(1), s.plateau_lr = p.at(2);
  }
  s.history_json = j.at("history").dump();
  return s;
}

Tensor tensor_of(const std::vector<float>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
}

int64_t step_of(const fs::path& p) {  // step-00001234.safetensors -> 1234, -1 if not a checkpoint name
  const std::string name = p.filename().string();
  const std::string prefix = "step-", suffix = ".safetensors";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = kCrcTable.t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void write_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& optimizer,
                      const std::vector<float>& ema, const TrainState& state,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, t] : model.state_dict()) tensors.emplace_back("model." + name, t.to_cpu());  // device: cuda too
  optim::OptimState os = optimizer.state();
  nlohmann::json counters = nlohmann::json::object();
  for (auto& [name, buf] : os.buffers)
    if (!buf->empty()) tensors.emplace_back("optim." + name, tensor_of(*buf));
  for (auto& [name, c] : os.counters) counters[name] = *c;
  if (!ema.empty()) tensors.emplace_back("ema", tensor_of(ema));
  std::map<std::string, std::string> meta = metadata;
  meta["cvtrain.checkpoint"] = kFormat;
  meta["train_state"] = state_json(state);
  meta["optim_counters"] = counters.dump();
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", checksum(tensors, meta));
  meta["checksum"] = hex;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) fail_input(fs::path(path).parent_path().string(), ": cannot create the folder: ", ec.message());
  write_safetensors(path, tensors, meta);
}

CheckpointContents read_checkpoint(const std::string& path) {
  SafetensorsFile f = read_safetensors(path);
  auto it = f.metadata.find("cvtrain.checkpoint");
  if (it == f.metadata.end()) fail_input(path, ": not a cvtrain checkpoint (no cvtrain.checkpoint metadata)");
  if (it->second != kFormat) fail_input(path, ": checkpoint format ", it->second, ", this program reads ", kFormat);
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", checksum(f.tensors, f.metadata));
  auto sum = f.metadata.find("checksum");
  if (sum == f.metadata.end() || sum->second != hex)
    fail_input(path, ": checksum mismatch (stored ", sum == f.metadata.end() ? "none" : sum->second, ", computed ",
               hex, "): the checkpoint is damaged");
  CheckpointContents ck;
  try {
    ck.state = state_from(f.metadata.at("train_state"));
    const nlohmann::json counters = nlohmann::json::parse(f.metadata.at("optim_counters"));  // NOTE: kept alive
    for (auto& [k, v] : counters.items()) ck.optim_counters[k] = v;
  } catch (const std::exception& e) {
    fail_input(path, ": bad train_state metadata: ", e.what());
  }
  for (auto& [name, t] : f.tensors) {
    if (name.rfind("model.", 0) == 0) {
      ck.model.emplace_back(name.substr(6), t);
    } else if (name.rfind("optim.", 0) == 0 || name == "ema") {
      if (t.dtype() != DType::f32 || t.dim() != 1) fail_input(path, ": tensor ", name, " must be 1-D f32");
      const float* p = t.data<float>();
      std::vector<float> v(p, p + t.numel());
      if (name == "ema") ck.ema = std::move(v);
      else ck.optim_buffers[name.substr(6)] = std::move(v);
    } else {
      fail_input(path, ": unexpected tensor '", name, "' in a checkpoint");
    }
  }
  for (const char* k : {"cvtrain.checkpoint", "train_state", "optim_counters", "checksum"}) f.metadata.erase(k);
  ck.metadata = std::move(f.metadata);
  return ck;
}

void restore_checkpoint(const CheckpointContents& ck, nn::Module& model, optim::Optimizer& optimizer,
                        std::vector<float>& ema) {
  model.load_state_dict(ck.model, /*strict=*/true);
  optim::OptimState os = optimizer.state();
  for (auto& [name, buf] : os.buffers) {
    auto it = ck.optim_buffers.find(name);
    if (it == ck.optim_buffers.end()) buf->clear();
    else *buf = it->second;
  }
  for (auto& [name, c] : os.counters) {
    auto it = ck.optim_counters.find(name);
    if (it == ck.optim_counters.end()) fail_input("checkpoint: the optimizer's counter '", name, "' is missing");
    *c = it->second;
  }
  if (!ema.empty() || !ck.ema.empty()) {
    if (ck.ema.size() != ema.size())
      fail_input("checkpoint: EMA weights of ", ck.ema.size(), " floats, the run expects ", ema.size(),
                 " (was train.ema_decay changed, or the checkpoint written before the EMA held batch-norm statistics?)");
    ema = ck.ema;
  }
}

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "step-%08lld.safetensors", static_cast<long long>(step));
  return (fs::path(run_dir) / "checkpoints" / name).string();
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    int64_t s = step_of(e.path());
    if (s >= 0) found.emplace_back(s, e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::string latest_good_checkpoint(const std::string& run_dir) {
  std::vector<std::string> all = list_checkpoints(run_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      read_checkpoint(*it);
      return *it;
    } catch (const InputError& e) {
      std::fprintf(stderr, "cvtrain: skipping a damaged checkpoint: %s\n", e.what());
    }
  }
  return "";
}

void prune_checkpoints(const std::string& run_dir, int64_t keep) {
  std::vector<std::string> all = list_checkpoints(run_dir);
  std::error_code ec;
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) fs::remove(all[i], ec);
  // A killed write's temporary is never read. Checkpoints are written in checkpoints/, snapshots in
  // snapshots/, the model files and logs in the run folder itself: all three are swept.
  for (const char* sub : {"checkpoints", "snapshots"}) remove_killed_writes((fs::path(run_dir) / sub).string());
  remove_killed_writes(run_dir);
}

}  // namespace cvtrain
