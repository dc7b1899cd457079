// libFuzzer target: what `cvtrain eval`, `predict` and `export` do with a model file before they touch
// a dataset: the metadata (config YAML, normalization, fitted preprocessing), and a strict weight load
// into the default mlp through both readers (train/model_file.h and train/weights.h, which also
// takes checkpoints); a mismatch must be an InputError, not a crash.
#include "cvtrain/train/config.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/weights.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/model_file.h"
#include "fuzz_common.h"

using namespace cvtrain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("model.safetensors", data, size);
  static Rng rng(1);
  static auto model = nn::build_model(nn::ModelSpec{"mlp"}, rng);
  fuzz::expect_input_error_only([&] {
    const auto meta = read_model_metadata(path);
    if (auto it = meta.find("config"); it != meta.end()) parse_config_text(it->second, path);
    if (meta.count("preprocess")) normalization_from_metadata(meta, path);
    preprocess_from_metadata(meta, path);
    input_like_from_metadata(meta, path);
    load_model_file(path, *model);
  });
  fuzz::expect_input_error_only([&] { load_weights(*model, read_weights(path)); });
  return 0;
}
