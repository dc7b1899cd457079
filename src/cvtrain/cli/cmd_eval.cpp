// `cvtrain eval RUN_DIR|MODEL [--json]`: rebuild the model from the config in the file's metadata,
// load the weights strictly, and evaluate on the test set with the saved preprocessing.
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

int cmd_eval(const EvalArgs& a) {
  std::string path = run_weights_path(a.run, a.weights);
  if (std::filesystem::is_directory(path)) path += "/model.safetensors";
  if (!std::filesystem::exists(path)) fail_input(path, ": no such model file");
  const auto meta = read_model_metadata(path);
  auto cfg_it = meta.find("config");
  if (cfg_it == meta.end()) fail_input(path, ": no 'config' entry in the metadata; not a cvtrain model file");
  RunConfig cfg = parse_config_text(cfg_it->second, path + " (metadata config)", a.overrides);
  const Normalization norm = normalization_from_metadata(meta, path);
  apply_threads(cfg);
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  Dataset test = load_split(cfg, Split::test);
  if (test.size() == 0) fail_input("data.dataset ", cfg.data.dataset, ": the test split is empty");
  const Preprocess fitted = preprocess_from_metadata(meta, path);
  auto model = make_stored_model(cfg, test, norm, fitted, std::filesystem::file_size(path), path, ctx.rng);
  load_model_file(path, *model);
  tta_view_count(a.tta);  // checks --tta before the work
  Progress progress(true);  // on a terminal only
  const PassProgress shown = progress.pass("evaluating test");
  EvalResult r = a.tta == "none" ? evaluate(ctx, *model, test, norm, cfg.train.eval_batch_size,
                                            fitted.is_channel() ? nullptr : &fitted, shown)
                                 : evaluate_tta(ctx, *model, test, norm, fitted, cfg.train.eval_batch_size, a.tta,
                                                tta_padding(cfg), shown);
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
