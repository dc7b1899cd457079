// Weights from elsewhere: a state_dict under the model's PyTorch names (torchvision's, or any saved
// from the same architecture) with a recipe that says which model it is and how its inputs are
// prepared. `cvtrain import --config RECIPE --weights FILE --out MODEL` writes a complete model file;
// eval, predict and export read the same pair directly (open_inference_model).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/transfer.h"

namespace cvtrain::cli {

namespace fs = std::filesystem;

InferenceModel load_recipe_model(const std::string& config, const std::string& weights,
                                 const std::vector<std::string>& overrides, Rng& rng) {
  InferenceModel m;
  m.cfg = load_config(config, overrides);
  if (!m.cfg.transfer.init_from.empty())
    fail_input("model.init_from: ", config, " starts training from ", m.cfg.transfer.init_from,
               "; with --weights the weights come from ", weights, " (leave model.init_from out)");
  // The preprocessing `cvtrain train` would use for this recipe: data.mean/data.std when it gives
  // them (a network trained elsewhere expects its own normalization), else fitted on its training split.
  const Dataset train = load_splits(m.cfg).train;
  m.norm = normalization_for(m.cfg.data, train);
  m.fitted = fit_preprocess(train, m.cfg.data.preprocess, m.cfg.data.preprocess_components, m.cfg.data.whiten_epsilon);
  m.class_names = train.class_names;
  m.C = train.images.size(1), m.H = train.images.size(2), m.W = train.images.size(3);
  m.model = make_model(m.cfg, train, rng, &m.fitted);
  load_state_dict_file(*m.model, weights);
  m.model->eval();
  m.weights.path = weights;
  m.weights.metadata = model_metadata(m.cfg, m.norm);
  add_preprocess_metadata(m.weights.metadata, m.fitted);
  add_input_metadata(m.weights.metadata, train);
  return m;
}

std::string resolve_weights_args(const std::string& run, const std::string& config, const std::string& weights) {
  const auto& names = run_weights_names();
  const bool named = weights.empty() || std::find(names.begin(), names.end(), weights) != names.end();
  if (config.empty()) {
    if (!named)
      fail_input("--weights ", weights, ": a state_dict file needs --config RECIPE.yaml to say which model it holds "
                 "(of a run folder, --weights takes model, best or ema)");
    if (run.empty()) fail_input("give a run folder or model file, or --config RECIPE.yaml --weights FILE.safetensors");
    return run_weights_path(run, weights);
  }
  if (!run.empty())
    fail_input("give either a run folder or model file (", run, ") or --config RECIPE.yaml --weights FILE, not both");
  if (weights.empty()) fail_input("--config ", config, ": needs --weights FILE.safetensors (a state_dict under the model's PyTorch names)");
  std::error_code ec;
  if (named && !fs::exists(weights, ec))
    fail_input("--weights ", weights, ": names a file of a run folder; with --config give a state_dict file");
  if (!fs::is_regular_file(weights, ec)) fail_input("--weights ", weights, ": no such file (a .safetensors state_dict)");
  return weights;
}

InferenceModel open_inference_model(const std::string& run, const std::string& config, const std::string& weights,
                                    const std::vector<std::string>& overrides, StoredUse use, Rng& rng) {
  const std::string path = resolve_weights_args(run, config, weights);
  return config.empty() ? load_inference_model(path, overrides, use, rng)
                        : load_recipe_model(config, path, overrides, rng);
}

int cmd_import(const ImportArgs& a) {
  Context ctx(0, 0);
  resolve_weights_args("", a.config, a.weights);
  InferenceModel m = load_recipe_model(a.config, a.weights, a.overrides, ctx.rng);
  save_model_file(a.out, *m.model, m.weights.metadata);
  std::printf("%s: model %s from %s, input (N,%lld,%lld,%lld), %zu classes, normalization mean", a.out.c_str(),
              m.cfg.model.name.c_str(), a.weights.c_str(), static_cast<long long>(m.C), static_cast<long long>(m.H),
              static_cast<long long>(m.W), m.class_names.size());
  for (float v : m.norm.mean) std::printf(" %.4f", v);
  std::printf(" std");
  for (float v : m.norm.std) std::printf(" %.4f", v);
  std::printf(m.cfg.data.mean.empty() ? " (fitted on the recipe's training data)\n" : " (data.mean, data.std)\n");
  return 0;
}

}  // namespace cvtrain::cli
