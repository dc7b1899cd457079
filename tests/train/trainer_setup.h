// What the trainer tests share: a small synthetic data set (256 train / 64 test images, 4 classes),
// a config for a dropout-free MLP trained 1 epoch of 4 batches at a constant lr, and its model; the
// message with which a config is refused.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "common/testing.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain::testing {

struct TrainerData {
  Dataset train = load_dataset("synthetic", "", Split::train, 256);
  Dataset test = load_dataset("synthetic", "", Split::test, 64);
  Normalization norm = fit_normalization(train);
};
inline const TrainerData& trainer_data() {
  static const TrainerData s;  // read once per test binary
  return s;
}

inline RunConfig trainer_config() {
  RunConfig c;
  c.model.name = "mlp";
  c.model.dropout = 0.0;
  c.train.epochs = 1;
  c.train.batch_size = 64;  // 4 batches per epoch
  c.train.progress = false;
  c.schedule.name = "constant";
  c.schedule.lr = 0.05;
  c.optim.weight_decay = 0.0;
  return c;
}

inline std::shared_ptr<nn::Module> trainer_model(Rng& rng, const std::string& name = "mlp") {
  nn::ModelSpec spec{name};
  spec.dropout = 0.0f;
  return nn::build_model(spec, rng);
}

// The defaults with `sets` applied as --set overrides: "" when load_config accepts them, else its message.
inline std::string load_config_refusal(const std::vector<std::string>& sets) {
  return input_error_of([&] { load_config("", sets); });
}

}  // namespace cvtrain::testing
