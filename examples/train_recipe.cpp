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
    const RunConfig cfg = load_config(argv[1], std::vector<std::string>(argv + 2, argv + argc));
    Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
    const Dataset train = load_split(cfg, Split::train);
    const Dataset test = load_split(cfg, Split::test);
    const Normalization norm = fit_normalization(train);
    const Preprocess fitted =
        fit_preprocess(train, cfg.data.preprocess, cfg.data.preprocess_components, cfg.data.whiten_epsilon);
    auto model = make_model(cfg, train, ctx.rng, &fitted);
    RunOutput out;  // no folder: nothing written
    out.preprocess = &fitted;
    const FitResult result = fit(ctx, *model, cfg, train, test, norm, TrainHooks{}, out);
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
