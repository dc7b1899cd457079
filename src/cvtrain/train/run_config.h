// RunConfig: everything a training run is told, as plain fields named after their config keys
// (`train.epochs` -> train_epochs). Defaults here are the defaults of the program. The YAML schema
// that fills it, with each key's documentation, is the table in train/config.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/data/augment_spec.h"

namespace cvtrain {

struct RunConfig {
  int64_t seed = 0;
  int64_t threads = 2;
  std::string device = "cpu";  // cpu | cuda (docs/cuda.md)

  std::string data_dataset = "fashion_mnist";
  std::string data_root = "/usr/share/datasets/fashion-mnist";
  int64_t data_limit_train = 0;
  int64_t data_limit_test = 0;
  std::vector<AugmentSpec> data_augment;  // data.augment: parsed by a dedicated reader in train/config.cpp
  double data_val_fraction = 0.0;
  std::string data_on_bad_file = "fail";
  std::string data_preprocess = "channel";
  int64_t data_preprocess_components = 0;
  double data_whiten_epsilon = 1e-5;
  int64_t data_workers = 0;
  bool data_drop_last = false;
  double data_mixup_alpha = 0.0;
  double data_cutmix_alpha = 0.0;
  std::vector<int64_t> data_classes;  // kept classes, relabelled 0..k-1 in this order (empty: all)
  int64_t data_per_class = 0;  // training images per class (0: all)

  std::string model_name = "cnn";
  double model_dropout = -1.0;
  std::string model_dropout_mode = "inverted";  // inverted | original
  std::string model_activation = "relu";
  double model_activation_slope = -1.0;
  double model_activation_alpha = 1.0;
  std::string model_init = "pytorch";
  double model_init_scale = 0.01;
  std::string model_init_mode = "fan_in";
  double model_init_gain = 0.0;
  std::vector<std::pair<std::string, std::string>> model_init_overrides;  // layer prefix -> "scheme[:scale]"
  int64_t model_depth = 6;
  int64_t model_width = 4096;
  bool model_zero_init_residual = false;
  double model_drop_path = 0.0;  // stochastic depth, the deepest block's drop rate
  std::vector<int64_t> model_channels = {64, 128, 256};
  int64_t model_stage_convs = 2;
  // stochastic depth mode, DropConnect, fractional max pooling
  std::string model_drop_path_mode = "sample";
  double model_dropconnect = 0.0;
  std::string model_pool = "max";
  double model_fmp_ratio = 1.4142135623730951;
  bool model_fmp_overlapping = true;
  std::string model_fmp_sequence = "random";
  int64_t model_fmp_test_samples = 4;
  bool model_batch_norm = true;
  // transfer learning (train/transfer.h)
  std::string model_init_from;  // a model file, run folder or PyTorch safetensors state_dict
  std::vector<std::string> model_freeze;  // parameter-name prefixes, or "backbone"
  int64_t model_reset_head = 0;  // the new number of classes: the final linear starts fresh
  bool model_freeze_bn = false;

  int64_t train_epochs = 3;
  int64_t train_batch_size = 128;
  int64_t train_eval_batch_size = 128;
  double train_label_smoothing = 0.0;
  bool train_progress = true;
  // the training loop: train/config.cpp documents each key
  int64_t train_eval_every = 1;
  double train_clip_grad_norm = 0.0;
  double train_clip_grad_value = 0.0;
  int64_t train_accumulate_steps = 1;
  double train_ema_decay = 0.0;
  int64_t train_early_stop_patience = 0;
  double train_early_stop_min_delta = 0.0;
  int64_t train_checkpoint_every_steps = 0;
  int64_t train_keep_last = 2;
  int64_t train_skip_nonfinite = 0;
  int64_t train_log_every_steps = 50;
  int64_t train_diagnostics_every = 0;
  int64_t train_max_steps = 0;  // train by optimizer steps instead of epochs (0: train.epochs)
  bool train_sync_bn = false;   // batch-norm statistics over all ranks
  double train_dist_timeout_s = 300;  // a collective waiting longer stops the job
  bool train_dist_overlap = true;     // gradient all-reduce overlapped with the backward pass
  double train_dist_bucket_mb = 1.0;  // gradient all-reduce bucket size
  bool train_tensorboard = true;
  bool train_histograms = true;
  bool train_plots = true;
  bool train_snapshots = false;  // a model file at the end of each schedule cycle
  std::string train_precision = "fp32";  // fp32 | bf16 (convolutions and matmuls in bf16)
  bool train_bf16_activations = true;  // with bf16, activations between layers in bf16 (CPU)
  std::string train_memory_format = "channels_last";  // channels_last | nchw (CPU activations)

  std::string optim_name = "sgd";
  double optim_lr = 0.1;
  double optim_momentum = 0.9;
  double optim_dampening = 0.0;
  bool optim_nesterov = true;
  double optim_weight_decay = 5e-4;
  double optim_l1 = 0.0;  // L1 strength; with weight_decay, the elastic net
  std::string optim_schedule = "onecycle";
  double optim_pct_start = 0.15;
  bool optim_cycle_momentum = true;  // onecycle: momentum (or beta1) cycled between the two below
  double optim_base_momentum = 0.85;
  double optim_max_momentum = 0.95;
  double optim_min_lr = 0.0;
  // optimizers and schedules
  double optim_beta1 = 0.9;
  double optim_beta2 = 0.999;
  double optim_eps = -1.0;
  double optim_alpha = 0.99;
  bool optim_centered = false;
  double optim_lr_decay = 0.0;
  double optim_initial_accumulator = 0.0;
  bool optim_decay_bias_and_norm = true;
  double optim_bias_lr_mult = 1.0;
  double optim_gamma = 0.1;
  int64_t optim_step_size = 1;
  std::vector<int64_t> optim_milestones;  // epochs
  int64_t optim_restart_period = 1;
  int64_t optim_restart_mult = 1;
  double optim_power = 1.0;
  int64_t optim_warmup_steps = 0;
  int64_t optim_warmup_epochs = 0;
  double optim_warmup_start_factor = 0.01;
  std::string optim_scale_lr = "none";
  int64_t optim_base_batch_size = 256;
  std::vector<std::pair<std::string, double>> optim_lr_mult;  // parameter-name prefix -> lr factor
};

}  // namespace cvtrain
