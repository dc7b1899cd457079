// Trains a model from a YAML recipe with --set style overrides, as `cvtrain train` does, through the
// installed library alone: load_config (every key checked and consumed, or refused), the dataset,
// the fitted preprocessing, the model, then fit. Exits non-zero unless the test accuracy beats chance.
//   train_recipe RECIPE.yaml [key.path=value ...]
#include <cstdio>
#include <string>
#include <vector>

#include "cvtrain/base/error.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/trainer.h"

using namespace cvtrain;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: train_recipe RECIPE.yaml [key.path=value ...]\n");
    return 2;
  }
  try {
    RunConfig cfg = load_config(argv[1], std::vector<std::string>(argv + 2, argv + argc));
    const std::string held_out = hold_out_validation(cfg);  // a run that chooses gets a validation split
    if (!held_out.empty()) std::fprintf(stderr, "train_recipe: %s\n", held_out.c_str());
    Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
    const RunSplits data = load_splits(cfg);
    const Dataset& train = data.train;
    const Normalization norm = fit_normalization(train);
    const Preprocess fitted =
        fit_preprocess(train, cfg.data.preprocess, cfg.data.preprocess_components, cfg.data.whiten_epsilon);
    auto model = make_model(cfg, train, ctx.rng, &fitted);
    RunOutput out;  // no folder: nothing written
    out.preprocess = &fitted;
    const FitResult result = fit(ctx, *model, cfg, train, data.val_or_null(), data.test, norm, TrainHooks{}, out);
    const double acc = result.history.back().test_acc;
    std::printf("%s: %s, %zu epochs, test accuracy %.2f%%\n", argv[1], cfg.model.name.c_str(), result.history.size(),
                100 * acc);
    const double chance = 1.0 / static_cast<double>(train.class_names.size());
    return acc > chance + 0.1 ? 0 : 1;
  } catch (const InputError& e) {
    std::fprintf(stderr, "train_recipe: %s\n", e.what());
    return 2;
  }
}
