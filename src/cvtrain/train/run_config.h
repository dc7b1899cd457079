// RunConfig: everything a training run is told, as plain fields named after their config keys
// (`train.epochs` -> train_epochs). Defaults here are the defaults of the program. The YAML schema
// that fills it, with each key's documentation, is the table in cli/config.cpp.
#pragma once
#include <cstdint>
#include <string>

namespace cvtrain {

struct RunConfig {
  int64_t seed = 0;
  int64_t threads = 2;

  std::string data_dataset = "fashion_mnist";
  std::string data_root = "/usr/share/datasets/fashion-mnist";
  int64_t data_limit_train = 0;
  int64_t data_limit_test = 0;

  std::string model_name = "cnn";
  double model_dropout = -1.0;

  int64_t train_epochs = 3;
  int64_t train_batch_size = 128;
  int64_t train_eval_batch_size = 128;
  double train_label_smoothing = 0.0;
  bool train_progress = true;

  std::string optim_name = "sgd";
  double optim_lr = 0.1;
  double optim_momentum = 0.9;
  double optim_dampening = 0.0;
  bool optim_nesterov = true;
  double optim_weight_decay = 5e-4;
  std::string optim_schedule = "onecycle";
  double optim_pct_start = 0.15;
  double optim_min_lr = 0.0;
};

}  // namespace cvtrain
