// Evaluates a trained run folder (or model file) through the installed library, as `cvtrain eval`
// does: the weights and the stored config from read_weights (train/weights.h), the model
// rebuilt from that config, and the test split of its dataset. Prints the test accuracy.
//   evaluate_run RUN_DIR_OR_MODEL_FILE [key.path=value ...]
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cvtrain/base/error.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/trainer.h"
#include "cvtrain/train/weights.h"

using namespace cvtrain;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: evaluate_run RUN_DIR_OR_MODEL_FILE [key.path=value ...]\n");
    return 2;
  }
  try {
    const WeightsFile w = read_weights(argv[1]);
    auto it = w.metadata.find("config");
    if (it == w.metadata.end()) fail_input(w.path, ": no config in the metadata; not a cvtrain model file");
    const RunConfig cfg = parse_config_text(it->second, w.path, std::vector<std::string>(argv + 2, argv + argc));
    Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
    const Dataset test = load_split(cfg, Split::test);
    const Preprocess fitted = preprocess_from_metadata(w.metadata, w.path);
    const Normalization norm = normalization_from_metadata(w.metadata, w.path);
    auto model = make_stored_model(cfg, test, norm, fitted, std::filesystem::file_size(w.path), w.path, ctx.rng);
    load_weights(*model, w);
    const EvalResult r = evaluate(ctx, *model, test, norm, cfg.train.eval_batch_size, &fitted);
    std::printf("%s: test accuracy %.2f%% (%lld images)\n", w.path.c_str(), 100 * r.accuracy,
                static_cast<long long>(r.images));
    return 0;
  } catch (const InputError& e) {
    std::fprintf(stderr, "evaluate_run: %s\n", e.what());
    return 2;
  }
}
