// The train.* keys and the transfer-learning model.* keys, with the program's defaults (their only
// defaults; train/config.cpp documents each key). Plain data: the trainer (trainer.h) and the
// transfer steps (transfer.h) read them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cvtrain {

struct TrainOptions {
  int64_t epochs = 3;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 128;
  double label_smoothing = 0.0;
  bool progress = true;
  int64_t eval_every = 1;
  double clip_grad_norm = 0.0;
  double clip_grad_value = 0.0;
  int64_t accumulate_steps = 1;
  double ema_decay = 0.0;
  std::string keep = "last";  // which weights the run's model.safetensors holds (keep_names)
  int64_t early_stop_patience = 0;
  double early_stop_min_delta = 0.0;
  int64_t checkpoint_every_steps = 0;
  int64_t keep_last = 2;
  int64_t skip_nonfinite = 0;
  int64_t log_every_steps = -1;  // -1: about 100 rows per run (step_log_interval)
  int64_t diagnostics_every = 0;
  int64_t max_steps = 0;         // ends the run sooner than epochs would (0: no limit)
  bool sync_bn = false;          // batch-norm statistics over all ranks
  double dist_timeout_s = 300;   // a collective waiting longer stops the job
  bool dist_overlap = true;      // gradient all-reduce overlapped with the backward pass
  double dist_bucket_mb = 1.0;   // gradient all-reduce bucket size
  int64_t dist_local_sgd = 0;    // > 0: local SGD, weights averaged every this many steps
  bool tensorboard = true;
  bool histograms = true;
  bool plots = true;
  bool snapshots = false;        // a model file at the end of each schedule cycle
  std::string precision = "fp32";           // fp32 | bf16
  bool bf16_activations = true;             // with bf16, activations between layers in bf16 (CPU)
  std::string memory_format = "channels_last";  // channels_last | nchw (CPU activations)
};

// The values of train.precision and train.memory_format.
const std::vector<std::string>& precision_names();
// train.keep: last (the final weights), best (best.safetensors: the best validation accuracy), ema
// (ema.safetensors: the moving average of train.ema_decay).
const std::vector<std::string>& keep_names();
const std::vector<std::string>& memory_format_names();

// The range of every field (InputError naming its train.* key).
void check_options(const TrainOptions& o);

// model.init_from, model.freeze, model.reset_head, model.freeze_bn (transfer.h).
struct TransferOptions {
  std::string init_from;            // a model file, run folder or PyTorch safetensors state_dict
  std::vector<std::string> freeze;  // parameter-name prefixes, or "backbone"
  int64_t reset_head = 0;           // the new number of classes: the final linear starts fresh
  bool freeze_bn = false;
  int64_t freeze_epochs = 0;        // > 0: model.freeze holds for these first epochs, then every layer trains
  bool init_strict = true;          // every model tensor but a reset head must come from init_from
};

// The range of every field (InputError naming its model.* key).
void check_options(const TransferOptions& o);

}  // namespace cvtrain
