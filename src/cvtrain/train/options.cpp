// The checks of the train.* and transfer keys.
#include "cvtrain/train/options.h"

#include "cvtrain/base/error.h"

namespace cvtrain {

namespace {
void need(bool ok, const char* key, const char* what) {
  if (!ok) fail_input(key, ": ", what);
}
}  // namespace

const std::vector<std::string>& precision_names() {
  static const std::vector<std::string> names = {"fp32", "bf16"};
  return names;
}
const std::vector<std::string>& keep_names() {
  static const std::vector<std::string> names = {"last", "best", "ema"};
  return names;
}
const std::vector<std::string>& memory_format_names() {
  static const std::vector<std::string> names = {"channels_last", "nchw"};
  return names;
}

void check_options(const TrainOptions& o) {
  need(o.epochs >= 1 && o.epochs <= 100000, "train.epochs", "must be in [1, 100000]");
  need(o.batch_size >= 1 && o.batch_size <= (1 << 20), "train.batch_size", "must be in [1, 1048576]");
  need(o.eval_batch_size >= 1 && o.eval_batch_size <= (1 << 20), "train.eval_batch_size", "must be in [1, 1048576]");
  need(o.label_smoothing >= 0 && o.label_smoothing < 1, "train.label_smoothing", "must be in [0, 1)");
  need(o.eval_every >= 1, "train.eval_every", "must be >= 1");
  need(o.clip_grad_norm >= 0, "train.clip_grad_norm", "must be >= 0");
  need(o.clip_grad_value >= 0, "train.clip_grad_value", "must be >= 0");
  need(o.accumulate_steps >= 1, "train.accumulate_steps", "must be >= 1");
  need(o.ema_decay >= 0 && o.ema_decay < 1, "train.ema_decay", "must be in [0, 1)");
  need(o.early_stop_patience >= 0, "train.early_stop_patience", "must be >= 0");
  need(o.checkpoint_every_steps >= 0, "train.checkpoint_every_steps", "must be >= 0");
  need(o.keep_last >= 1, "train.keep_last", "must be >= 1");
  need(o.skip_nonfinite >= 0, "train.skip_nonfinite", "must be >= 0");
  need(o.log_every_steps >= -1, "train.log_every_steps", "must be >= 0, or -1 for about 100 rows per run");
  need(o.diagnostics_every >= 0, "train.diagnostics_every", "must be >= 0");
  need(o.max_steps >= 0 && o.max_steps <= 1000000000, "train.max_steps", "must be in [0, 10^9]");
  need(o.dist_timeout_s > 0, "train.dist_timeout_s", "must be > 0");
  need(o.dist_bucket_mb > 0 && o.dist_bucket_mb <= 1024, "train.dist_bucket_mb", "must be in (0, 1024]");
  need(o.dist_local_sgd >= 0 && o.dist_local_sgd <= 1000000, "train.dist_local_sgd", "must be in [0, 10^6] (0: off)");
  index_of_name(precision_names(), o.precision, "train.precision", "precision");
  index_of_name(keep_names(), o.keep, "train.keep", "choice");
  need(o.keep != "ema" || o.ema_decay > 0, "train.keep", "ema needs train.ema_decay > 0 (the average it keeps)");
  index_of_name(memory_format_names(), o.memory_format, "train.memory_format", "memory format");
}

void check_options(const TransferOptions& o) {
  need(o.reset_head >= 0, "model.reset_head", "must be >= 0 (0: off)");
  for (const std::string& prefix : o.freeze) need(!prefix.empty(), "model.freeze", "an empty prefix");
  need(o.freeze_epochs >= 0, "model.freeze_epochs", "must be >= 0 (0: model.freeze holds for the whole run)");
}

}  // namespace cvtrain
