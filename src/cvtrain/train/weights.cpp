// Finding and loading a model's weights for predict and export (see weights.h).
#include "cvtrain/train/weights.h"

#include <cmath>
#include <filesystem>

#include "cvtrain/tensor/safetensors.h"
#include "cvtrain/train/checkpoint.h"

namespace cvtrain {

namespace fs = std::filesystem;

WeightsFile read_weights(const std::string& run_or_file) {
  WeightsFile w;
  w.path = run_or_file;
  if (fs::is_directory(run_or_file)) {
    w.path = run_or_file + "/model.safetensors";
    if (!fs::exists(w.path)) {
      w.path = latest_good_checkpoint(run_or_file);
      if (w.path.empty())
        fail_input(run_or_file, ": neither a model.safetensors nor a readable checkpoint in this folder");
    }
  }
  if (!fs::exists(w.path)) fail_input(w.path, ": no such model file");
  SafetensorsFile f = read_safetensors(w.path);
  if (f.metadata.count("cvtrain.checkpoint")) {
    CheckpointContents ck = read_checkpoint(w.path);  // verifies the checksum
    w.checkpoint = true;
    w.state = std::move(ck.model);
    w.metadata = std::move(ck.metadata);
  } else {
    w.state = std::move(f.tensors);
    w.metadata = std::move(f.metadata);
  }
  if (!w.metadata.count("config"))
    fail_input(w.path, ": no 'config' entry in the metadata; not a cvtrain model file or checkpoint");
  return w;
}

const std::vector<std::string>& run_weights_names() {
  static const std::vector<std::string> names = {"model", "best", "ema"};
  return names;
}

std::string run_weights_path(const std::string& run_or_file, const std::string& which) {
  if (which.empty() || which == "model") return run_or_file;
  index_of_name(run_weights_names(), which, "--weights", "choice");
  if (!fs::is_directory(run_or_file))
    fail_input("--weights ", which, ": names a file of a run folder, and ", run_or_file, " is not a folder");
  const std::string path = run_or_file + "/" + which + ".safetensors";
  if (!fs::exists(path))
    fail_input(run_or_file, ": no ", which, ".safetensors (",
               which == "ema" ? "train with train.ema_decay" : "a run with a validation split writes it", ")");
  return path;
}

void load_weights(nn::Module& model, const WeightsFile& w) {
  for (const auto& [name, t] : w.state) {
    if (t.dtype() != DType::f32) continue;  // load_state_dict names a wrong dtype; i64 counters are not weights
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(p[i]))
        fail_input(w.path, ": tensor '", name, "' holds a non-finite value (", p[i], ") at flat index ", i);
  }
  try {
    model.load_state_dict(w.state, /*strict=*/true);
  } catch (const InputError& e) {
    fail_input(w.path, ": ", e.what());
  }
}

}  // namespace cvtrain
