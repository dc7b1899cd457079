// `cvtrain eval RUN_DIR|MODEL [--json]`: rebuild the model from the config in the file's metadata,
// load the weights strictly, and evaluate on the test set with the saved preprocessing; or
// `cvtrain eval --config RECIPE --weights STATE_DICT`: the recipe's model and test set (cmd_import.cpp).
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cvtrain/cli/commands.h"
#include "cvtrain/cli/progress.h"
#include "cvtrain/train/config.h"
#include "cvtrain/data/tta.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain::cli {

namespace {

// The model of a run folder or model file, built for its test set (shape and class names checked
// against the stored config's).
struct EvalModel {
  std::string path;
  RunConfig cfg;
  Normalization norm;
  Preprocess fitted;
  Dataset test;
  std::shared_ptr<nn::Module> model;
};

EvalModel open_stored(const EvalArgs& a, Rng& rng) {
  EvalModel e;
  e.path = resolve_weights_args(a.run, a.config, a.weights);
  if (std::filesystem::is_directory(e.path)) e.path += "/model.safetensors";
  if (!std::filesystem::exists(e.path)) fail_input(e.path, ": no such model file");
  const auto meta = read_model_metadata(e.path);
  auto cfg_it = meta.find("config");
  if (cfg_it == meta.end())
    fail_input(e.path, ": no 'config' entry in the metadata; not a cvtrain model file (a state_dict from elsewhere: "
               "--config RECIPE.yaml --weights FILE, or cvtrain import)");
  e.cfg = parse_stored_config(cfg_it->second, e.path + " (metadata config)", a.overrides, StoredUse::evaluate);
  e.norm = normalization_from_metadata(meta, e.path);
  e.test = load_split(e.cfg, Split::test);
  if (e.test.size() == 0) fail_input("data.dataset ", e.cfg.data.dataset, ": the test split is empty");
  e.fitted = preprocess_from_metadata(meta, e.path);
  e.model = make_stored_model(e.cfg, e.test, e.norm, e.fitted, std::filesystem::file_size(e.path), e.path, rng);
  load_model_file(e.path, *e.model);
  return e;
}

// --config RECIPE --weights FILE: the recipe's model and its test split.
EvalModel open_recipe(const EvalArgs& a, Rng& rng) {
  resolve_weights_args(a.run, a.config, a.weights);
  InferenceModel m = load_recipe_model(a.config, a.weights, a.overrides, rng);
  EvalModel e{a.weights, m.cfg, m.norm, m.fitted, load_split(m.cfg, Split::test), m.model};
  if (e.test.size() == 0) fail_input("data.dataset ", e.cfg.data.dataset, ": the test split is empty");
  return e;
}

}  // namespace

int cmd_eval(const EvalArgs& a) {
  Rng rng(0);
  EvalModel e = a.config.empty() ? open_stored(a, rng) : open_recipe(a, rng);
  const std::string& path = e.path;
  apply_threads(e.cfg);
  Context ctx(static_cast<uint64_t>(e.cfg.seed), static_cast<int>(e.cfg.threads));
  set_cpu_runtime(ctx, e.cfg);  // a bf16 run is evaluated in bf16, as its own evaluations were
  tta_view_count(a.tta);  // checks --tta before the work
  Progress progress(true);  // on a terminal only
  const PassProgress shown = progress.pass("evaluating test");
  EvalResult r = a.tta == "none" ? evaluate(ctx, *e.model, e.test, e.norm, e.cfg.train.eval_batch_size,
                                            e.fitted.is_channel() ? nullptr : &e.fitted, shown)
                                 : evaluate_tta(ctx, *e.model, e.test, e.norm, e.fitted, e.cfg.train.eval_batch_size,
                                                a.tta, tta_padding(e.cfg), shown);
  progress.clear();
  if (a.json) {
    nlohmann::json j = {{"model", path},         {"images", r.images},  {"tta", a.tta},
                        {"test_loss", r.loss},   {"test_acc", r.accuracy},
                        {"seconds", r.seconds},  {"images_per_s", r.seconds > 0 ? r.images / r.seconds : 0.0}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: test_loss %.4f  test_acc %.2f%%  (%lld images, %.0f img/s)\n", path.c_str(), r.loss,
                100 * r.accuracy, static_cast<long long>(r.images), r.seconds > 0 ? r.images / r.seconds : 0.0);
  }
  return 0;
}

}  // namespace cvtrain::cli
