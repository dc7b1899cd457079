// The loop, in the order a step happens: forward, loss (a non-finite one is skipped or stops the
// run), backward into the arena's gradients, and once per `accumulate_steps` batches: average,
// clip, optimizer step, EMA, logs, checkpoint. Each epoch ends with evaluation (raw and EMA),
// the best model, early stopping, and a checkpoint. A checkpoint is taken only between optimizer
// steps, so resuming needs only the loader position and the RNG states (checkpoint.h).
#include "cvtrain/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "cvtrain/backend/cuda/kernels.h"  // device: cuda: gradient scaling and clipping on the GPU
#include "cvtrain/data/loader.h"
#include "cvtrain/dist/data_parallel.h"
#include "cvtrain/dist/sampler.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/train/ensemble.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/transfer.h"

namespace cvtrain {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Number of rows of logits (N,K) whose argmax equals the label.
int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const int64_t n = logits.size(0), k = logits.size(1);
  Tensor lc = logits.to_cpu().contiguous();  // device: cuda: (N,K) comes back, a few KB
  const float* p = lc.data<float>();
  const int64_t* y = labels.data<int64_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == y[i];
  }
  return correct;
}

// Global L2 norm of all gradients, summed in double in a fixed order (the same for any thread count).
double grad_norm(const nn::ParameterArena& arena) {
  const float* g = arena.grad();
  double sum = 0;
  for (int64_t i = 0; i < arena.size(); ++i) sum += static_cast<double>(g[i]) * g[i];
  return std::sqrt(sum);
}

void scale_grads(nn::ParameterArena& arena, float s) {
  const int64_t n = arena.size();
  if (arena.on_cuda())  // device: cuda: on the GPU's gradients (in place)
    return cuda::scalar_forward(*arena.cuda_runtime(), BinaryOp::mul, arena.device_grad(), s, arena.device_grad(), n);
  float* g = arena.grad();
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) g[i] *= s;
}

// The batch on the run's device (device: cuda copies it to the GPU; the CPU keeps it as it is).
Tensor on_device(Context& ctx, const Tensor& t) { return ctx.cuda && t.defined() ? t.to_cuda(ctx.cuda) : t; }

// device: cuda (docs/cuda.md): the model's parameters and f32 buffers move to the GPU before the
// arena is built (which then lives there too); what does not run there yet fails naming its key.
void model_to_device(Context& ctx, nn::Module& model, const RunConfig& cfg) {
  if (!ctx.cuda) return;
  optim::check_runs_on_cuda(cfg.optim.name, true);
  if (cfg.train.ema_decay > 0) fail_input("train.ema_decay: not supported with device: cuda yet");
  // NOTE: accumulation compiles on the GPU (scale_grads) but its losses differed from the CPU's by 13%
  // after 8 steps on an H200 (2026-11-26), against < 1% for the other options: off until understood.
  if (cfg.train.accumulate_steps > 1) fail_input("train.accumulate_steps: not supported with device: cuda yet");
  ctx.cuda->set_bf16(cfg.train.precision == "bf16");  // bf16 convolutions and matmuls on tensor cores (docs/cuda.md)
  for (auto& [name, v] : model.named_parameters())
    if (!v->data().is_cuda()) v->data() = v->data().to_cuda(ctx.cuda);
  for (auto& [name, t] : model.named_buffers())  // num_batches_tracked (i64) stays a host counter
    if (t->dtype() == DType::f32 && !t->is_cuda()) *t = t->to_cuda(ctx.cuda);
}

// The runtime as the config asks (the CPU's precision and memory format; the device), before the
// parameter arena is built over the model. Returns the model.
nn::Module& prepare_model(Context& ctx, nn::Module& model, const RunConfig& cfg) {
  set_cpu_runtime(ctx, cfg);
  model_to_device(ctx, model, cfg);
  return model;
}

// Batches of an epoch: the global batches of batch_size x ranks (one process: the loader's).
int64_t epoch_batches(int64_t n, int64_t batch_size, bool drop_last, const dist::Communicator* comm) {
  return dist::global_batches(n, batch_size * (comm ? comm->size() : 1), drop_last);
}

}  // namespace

void set_cpu_runtime(Context& ctx, const RunConfig& cfg) {
  ctx.dnnl.set_bf16(cfg.train.precision == "bf16");  // backend/cpu/dnnl_runtime.h
  ctx.dnnl.set_bf16_activations(cfg.train.bf16_activations);
  ctx.dnnl.set_channels_last(cfg.train.memory_format == "channels_last");
}

int64_t optimizer_steps_per_epoch(const RunConfig& cfg, int64_t batches_per_epoch) {
  return (batches_per_epoch + cfg.train.accumulate_steps - 1) / cfg.train.accumulate_steps;
}

optim::ScheduleRun schedule_run(const RunConfig& cfg, int64_t batches_per_epoch, int64_t world) {
  const int64_t spe = optimizer_steps_per_epoch(cfg, batches_per_epoch);
  optim::ScheduleRun run;
  run.total_steps = planned_steps(cfg, batches_per_epoch);
  run.steps_per_epoch = spe;
  // Schedules that move the momentum move Adam's (and LAMB's) beta1 (as torch's OneCycleLR does).
  const bool betas = optim::optimizer_reads(cfg.optim.name, "optim.beta1");
  run.momentum = betas ? cfg.optim.beta1 : cfg.optim.momentum;
  run.global_batch = cfg.train.batch_size * cfg.train.accumulate_steps * world;  // every rank's batch, accumulated
  return run;
}

int64_t planned_steps(const TrainOptions& train, int64_t batches_per_epoch) {
  const int64_t by_epochs = train.epochs * ((batches_per_epoch + train.accumulate_steps - 1) / train.accumulate_steps);
  return train.max_steps > 0 ? std::min(train.max_steps, by_epochs) : by_epochs;
}

int64_t planned_steps(const RunConfig& cfg, int64_t batches_per_epoch) { return planned_steps(cfg.train, batches_per_epoch); }

int64_t planned_epochs(const RunConfig& cfg, int64_t batches_per_epoch) {
  const int64_t spe = optimizer_steps_per_epoch(cfg, batches_per_epoch);
  return (planned_steps(cfg, batches_per_epoch) + spe - 1) / spe;
}

int64_t step_log_interval(int64_t log_every_steps, int64_t steps) {
  if (log_every_steps >= 0) return log_every_steps;
  return std::clamp<int64_t>(steps / 100, 1, 50);
}

ModelEma::ModelEma(nn::Module& model, const nn::ParameterArena& arena, float decay) : arena_(arena), decay_(decay) {
  if (decay <= 0) return;
  values_.assign(arena.data(), arena.data() + arena.size());
  for (auto& [name, t] : model.named_buffers()) {
    if (t->dtype() != DType::f32) continue;  // num_batches_tracked: a counter, not a statistic
    CHECK(t->is_contiguous(), "ModelEma: buffer ", name, " is not contiguous");
    buffers_.push_back(t);
    values_.insert(values_.end(), t->data<float>(), t->data<float>() + t->numel());
  }
}

void ModelEma::update() {
  if (values_.empty()) return;
  const float d = decay_;
  auto blend = [d](float* ema, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) ema[i] = d * ema[i] + (1.0f - d) * x[i];
  };
  blend(values_.data(), arena_.data(), arena_.size());
  int64_t at = arena_.size();
  for (Tensor* t : buffers_) blend(values_.data() + at, t->data<float>(), t->numel()), at += t->numel();
}

void ModelEma::swap() {
  if (values_.empty()) return;
  std::swap_ranges(values_.data(), values_.data() + arena_.size(), arena_.data());
  int64_t at = arena_.size();
  for (Tensor* t : buffers_) {
    std::swap_ranges(values_.data() + at, values_.data() + at + t->numel(), t->data<float>());
    at += t->numel();
  }
}

EvalResult evaluate(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                    int64_t batch_size, const Preprocess* preprocess, const PassProgress& progress) {
  NoGradGuard no_grad(ctx);
  model.eval();
  BatchLoader loader(data, norm, batch_size, /*shuffle=*/false);
  if (preprocess) loader.set_preprocess(*preprocess);
  loader.start_epoch(ctx.rng);
  Batch batch;
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  const auto t0 = Clock::now();
  while (loader.next(batch)) {
    Variable logits = model.forward(ctx, Variable(on_device(ctx, batch.x)));
    const int64_t n = batch.y.size(0);
    loss_sum += ops::cross_entropy(ctx, logits, batch.y).item() * static_cast<double>(n);
    correct += count_correct(logits.data(), batch.y);
    r.images += n;
    if (progress) progress(r.images, data.size());
  }
  r.seconds = seconds_since(t0);
  r.loss = r.images ? loss_sum / static_cast<double>(r.images) : 0.0;
  r.accuracy = r.images ? static_cast<double>(correct) / static_cast<double>(r.images) : 0.0;
  return r;
}

namespace {

// One run of the loop, as steps: setup (constructor), then per epoch start_epoch, a train_batch per
// batch with an optimizer_step closing each accumulation group, and end_epoch (evaluate, the best
// model, early stopping, snapshots, the checkpoint). EMA, checkpoints, logs, diagnostics and the
// data-parallel collectives are called from those steps, each in one place.
class Trainer {
 public:
  Trainer(Context& ctx, nn::Module& model, const TrainOptions& opt, FitParts& parts, const Dataset& train,
          const Dataset* val, const Dataset& test, const Normalization& norm, const TrainHooks& hooks,
          const RunOutput& out);
  ~Trainer() { ctx_.batchnorm_sync = nullptr; }  // train.sync_bn is for this run only
  FitResult run();

 private:
  // What one epoch's batches come from: the loader, or data-parallel, this rank's shard of it.
  struct EpochData {
    BatchLoader* loader = nullptr;
    dist::Shard shard;
    Dataset shard_data;
    std::unique_ptr<BatchLoader> shard_loader;
    size_t global_k = 0;  // data-parallel: global batches of the shard taken
    int64_t batches = 0;  // batches of the epoch (a resumed epoch counts those already taken)
  };
  // The running sums of one epoch, and of the accumulation group in progress.
  struct EpochProgress {
    int64_t used_in_group = 0, seen_now = 0;
    double group_loss = 0;
    double comm_wait_s = 0;  // waiting for the other ranks: the batch totals and the gradient sum
    // local SGD: the step this group closes averages the ranks' weights (and with `all`, their
    // momentum too)
    enum class Average { none, weights, all } averages = Average::none;
    Clock::time_point t0;
  };

  void setup_distributed();
  void start_shard_epoch(int64_t epoch, EpochData& d);
  void start_local_epoch(int64_t epoch, EpochData& d);
  void start_epoch(int64_t epoch, EpochData& d, EpochProgress& p);
  bool next_batch(EpochData& d, Batch& b);
  void train_batch(const Batch& batch, int64_t epoch, const EpochData& d, EpochProgress& p);
  void fail_or_skip_nonfinite(float loss_value, bool diverged, int64_t epoch);
  EpochProgress::Average averages_at(int64_t step, bool epoch_end) const;
  bool sum_pending(int64_t n, float loss_value, int64_t correct, bool finite, EpochProgress& p);
  void average_ranks(EpochProgress& p);
  static constexpr double kDivergence = 1e4;  // a loss this many times the first one has diverged
  void optimizer_step(int64_t epoch, EpochProgress& p);
  void clip_gradients(double norm);
  void end_epoch(int64_t epoch, const EpochData& d, const EpochProgress& p);
  void evaluate_epoch(int64_t epoch, EpochMetrics& m);
  optim::ScheduleValue schedule_at(int64_t step) const;
  EvalResult evaluate_on(const Dataset& data, const char* split, EvalResult* with_ema);
  void lift_freeze();
  void choose(int64_t epoch, double val_acc);
  void save_checkpoint();
  void save_ema_model();

  Context& ctx_;
  nn::Module& model_;
  const TrainOptions& opt_;
  FitParts& parts_;
  const Dataset& train_;
  const Dataset* val_;  // what the best model and early stopping choose on (null: no choices)
  const Dataset& test_;
  const Normalization& norm_;
  const TrainHooks& hooks_;
  const RunOutput& out_;
  nn::ParameterArena& arena_;
  optim::Optimizer* optimizer_;  // parts_.optimizer: replaced once when model.freeze_epochs lifts the freeze
  BatchLoader loader_;
  dist::Communicator* comm_;
  int world_, rank_;
  int64_t batches_ = 0;
  int64_t log_every_ = 0;  // steps between steps.jsonl rows (step_log_interval)
  const optim::Schedule& schedule_;
  optim::ScheduleValue sv_{};
  ModelEma ema_;
  bool writes_;
  std::unique_ptr<dist::CommBatchNormSync> bn_sync_;
  std::unique_ptr<dist::GradientAllreduce> grad_sum_;  // the bucketed all-reduce, overlapped with backward
  int64_t local_sgd_ = 0;          // train.dist_local_sgd with several ranks: steps between averages
  dist::BatchTotals pending_;      // local SGD: this rank's batch totals since the last average
  std::vector<float> avg_scratch_;  // local SGD: the packed weights, momentum and statistics
  std::unique_ptr<TrainLog> log_;
  TrainState st_;
  FitResult result_;
  bool stop_ = false;
  double first_loss_ = -1;  // the first finite training loss of this process
};

Trainer::Trainer(Context& ctx, nn::Module& model, const TrainOptions& opt, FitParts& parts, const Dataset& train,
                 const Dataset* val, const Dataset& test, const Normalization& norm, const TrainHooks& hooks,
                 const RunOutput& out)
    : ctx_(ctx), model_(model), opt_(opt), parts_(parts), train_(train), val_(val), test_(test), norm_(norm),
      hooks_(hooks), out_(out),
      arena_(*parts.arena),
      optimizer_(parts.optimizer.get()),
      loader_(train, norm, opt.batch_size, /*shuffle=*/true, parts.loader),
      comm_(out.comm), world_(comm_ ? comm_->size() : 1), rank_(comm_ ? comm_->rank() : 0),
      schedule_(parts.schedule),
      ema_(model, arena_, static_cast<float>(opt.ema_decay)),  // EMA of weights and BN statistics
      writes_(!out.dir.empty() && rank_ == 0) {
  if (parts_.plateau && !val_)
    fail_input("optim.schedule: plateau lowers the lr when the validation loss stops improving, and this run has "
               "no validation split; set data.val_fraction (the test set never chooses)");
  if (opt_.early_stop_patience > 0 && !val_)
    fail_input("train.early_stop_patience: early stopping chooses on a validation split and this run has none; "
               "set data.val_fraction (the test set never chooses)");
  stop_frozen_gradients(model_, parts_.frozen);  // frozen layers: no gradient computed (transfer.h)
  if (out_.preprocess) loader_.set_preprocess(*out_.preprocess);
  // Data-parallel (out.comm): each rank reads its shard of every epoch (dist/sampler.h); a step's
  // gradient is the mean over the global batch of batch_size x ranks; rank 0 alone writes.
  batches_ = epoch_batches(train_.size(), opt_.batch_size, parts_.loader.drop_last, comm_);
  log_every_ = step_log_interval(opt_.log_every_steps, planned_steps(opt_, batches_));
  if (out_.resume) {
    restore_checkpoint(*out_.resume, model_, *optimizer_, ema_.values());
    st_ = out_.resume->state;
    result_.history = history_from_json(st_.history_json);
    ctx_.rng.set_state(st_.rng_now);
    result_.last_checkpoint = checkpoint_path(out_.dir, st_.step);
    // a run killed after its last checkpoint resumes with nothing left to train, and writes no
    // checkpoint that would sweep the killed writes' temporaries: sweep them now
    if (writes_) prune_checkpoints(out_.dir, opt_.keep_last);
    if (parts_.plateau && st_.plateau_lr > 0) parts_.plateau->set_state({st_.plateau_best, st_.plateau_bad, st_.plateau_lr});
  }
  setup_distributed();
  if (writes_) log_ = std::make_unique<TrainLog>(out_.dir, opt_, parts_.loader, result_.history, st_.step);
  if (log_ && !out_.resume) log_->augmentation_preview(train_);
}

// Several ranks: batch-norm statistics over the global batch (train.sync_bn), the gradient
// all-reduce, rank 0's weights everywhere, and a dropout stream per rank.
void Trainer::setup_distributed() {
  if (!comm_ || world_ <= 1) return;
  if (ctx_.cuda && !comm_->has_device_allreduce())
    fail_input("device: cuda: data-parallel training on GPUs needs a build with NCCL (CVTRAIN_CUDA=ON, "
               "docs/distributed.md); this one sums on the CPU only");
  if (opt_.sync_bn) {  // base/batchnorm_sync.h
    if (ctx_.cuda) fail_input("train.sync_bn: runs on the CPU only so far (device: cuda; docs/distributed.md)");
    const int64_t last = train_.size() % (opt_.batch_size * world_);
    if (!parts_.loader.drop_last && last > 0 && last < world_)  // a rank without examples would miss the collectives
      fail_input("train.sync_bn: the last global batch has ", last, " examples for ", world_,
                 " ranks; set data.drop_last: true or change train.batch_size");
    bn_sync_ = std::make_unique<dist::CommBatchNormSync>(*comm_);
    ctx_.batchnorm_sync = bn_sync_.get();
  }
  if (opt_.dist_local_sgd > 0) {  // local SGD: no gradient sum; the weights are averaged instead
    if (ctx_.cuda) fail_input("train.dist_local_sgd: runs on the CPU only so far (device: cuda)");
    local_sgd_ = opt_.dist_local_sgd;
  } else if (!ctx_.cuda) {  // train.dist_bucket_mb: whole parameters per bucket, in reverse order
    grad_sum_ = std::make_unique<dist::GradientAllreduce>(
        *comm_, model_, arena_, std::max<int64_t>(1, static_cast<int64_t>(opt_.dist_bucket_mb * 262144)));
  }
  dist::broadcast_model(*comm_, model_, arena_);  // every rank starts from rank 0's weights
  Rng::State r = ctx_.rng.state();                 // dropout masks differ per rank
  r.seed += 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank_);
  ctx_.rng.set_state(r);
}

FitResult Trainer::run() {
  const int64_t max_steps = opt_.max_steps;  // 0: no limit; else the run ends at the first of the two
  stop_ = st_.evals_since_best >= opt_.early_stop_patience && opt_.early_stop_patience > 0;
  sv_ = schedule_at(st_.step);
  // An epoch begun before a checkpoint (batches_done > 0) is finished even when the checkpoint's step
  // already reached train.max_steps: its end (evaluation, logs) has not run yet.
  while (st_.epoch <= opt_.epochs && (max_steps == 0 || st_.step < max_steps || st_.batches_done > 0) && !stop_) {
    const int64_t epoch = st_.epoch;
    EpochData d;
    EpochProgress p;
    start_epoch(epoch, d, p);
    Batch batch;
    while ((max_steps == 0 || st_.step < max_steps) && next_batch(d, batch)) {  // max_steps: the last epoch ends there
      train_batch(batch, epoch, d, p);
      if (result_.interrupted) return std::move(result_);
    }
    end_epoch(epoch, d, p);
    if (hooks_.pause_after_epoch > 0 && epoch >= hooks_.pause_after_epoch && !stop_ && st_.epoch <= opt_.epochs &&
        (max_steps == 0 || st_.step < max_steps)) {
      result_.paused = true;  // end_epoch wrote the checkpoint
      break;
    }
  }
  if (!result_.paused) save_ema_model();
  if (val_) result_.best_val_acc = st_.best_acc, result_.best_epoch = st_.best_epoch;
  return std::move(result_);
}

// With train.ema_decay, the averaged weights (and batch-norm statistics) as a model file of their
// own, RUN/ema.safetensors, which eval, predict, export and ensemble take like model.safetensors.
void Trainer::save_ema_model() {
  if (!writes_ || ema_.values().empty()) return;
  auto meta = out_.metadata;
  meta["weights"] = "ema";
  ema_.swap();
  save_model_file(out_.dir + "/ema.safetensors", model_, meta);
  ema_.swap();
}

// The shuffle depends only on the RNG state at start_epoch; a resumed epoch replays it and skips the
// batches already consumed, then takes up the RNG where the checkpoint left it. Data-parallel: the
// epoch's shard after the examples already consumed (any number of ranks).
void Trainer::start_epoch(int64_t epoch, EpochData& d, EpochProgress& p) {
  model_.train();
  if (parts_.freeze_bn) freeze_batchnorm(model_);  // transfer.h
  if (parts_.unfrozen && epoch >= parts_.unfreeze_at_epoch) lift_freeze();
  if (comm_) start_shard_epoch(epoch, d);
  else start_local_epoch(epoch, d);
  d.loader->reset_wait();
  p.t0 = Clock::now();
}

// model.freeze_epochs are over (or were, before the checkpoint this run resumed from): every layer
// computes its gradient again, and an optimizer without the freeze takes over the state (momentum,
// moments, step counters) of the one with it.
void Trainer::lift_freeze() {
  std::unique_ptr<optim::Optimizer> next = parts_.unfrozen();
  optim::OptimState from = optimizer_->state(), to = next->state();
  CHECK(from.buffers.size() == to.buffers.size() && from.counters.size() == to.counters.size(),
        "lift_freeze: the optimizers' states differ");
  for (size_t i = 0; i < from.buffers.size(); ++i) *to.buffers[i].second = *from.buffers[i].second;
  for (size_t i = 0; i < from.counters.size(); ++i) *to.counters[i].second = *from.counters[i].second;
  restart_frozen_gradients(model_, parts_.frozen);
  parts_.optimizer = std::move(next);
  optimizer_ = parts_.optimizer.get();
  parts_.unfrozen = nullptr;
  parts_.frozen.clear();
}

// Data-parallel: this rank's shard of the epoch, after the examples already consumed.
void Trainer::start_shard_epoch(int64_t epoch, EpochData& d) {
  d.shard = dist::shard_epoch(train_.size(), parts_.loader.seed, epoch - 1, st_.images_done, rank_, world_,
                              opt_.batch_size, parts_.loader.drop_last);
  d.shard_data = dist::gather(train_, d.shard.indices);
  AugmentOptions ao = parts_.loader;
  ao.seed += 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank_);  // the ranks' streams differ
  d.shard_loader = std::make_unique<BatchLoader>(d.shard_data, norm_, opt_.batch_size, /*shuffle=*/false, ao);
  if (out_.preprocess) d.shard_loader->set_preprocess(*out_.preprocess);
  d.shard_loader->set_epoch(epoch - 1);
  d.shard_loader->start_epoch(ctx_.rng);
  d.loader = d.shard_loader.get();
  d.batches = st_.batches_done + static_cast<int64_t>(d.shard.global_sizes.size());
}

// One process: the loader's epoch; a resumed epoch replays the shuffle and skips the batches taken.
void Trainer::start_local_epoch(int64_t epoch, EpochData& d) {
  const bool resumed_mid_epoch = st_.batches_done > 0;
  if (resumed_mid_epoch) ctx_.rng.set_state(st_.rng_epoch_start);
  else st_.rng_epoch_start = ctx_.rng.state();
  loader_.set_epoch(epoch - 1);
  loader_.start_epoch(ctx_.rng);
  Batch skipped;
  for (int64_t b = 0; b < st_.batches_done; ++b) CHECK(loader_.next(skipped), "resume: batch ", b, " of ", batches_);
  if (resumed_mid_epoch) ctx_.rng.set_state(st_.rng_now);
  d.loader = &loader_;
  d.batches = batches_;
}

bool Trainer::next_batch(EpochData& d, Batch& b) {
  if (!comm_) return d.loader->next(b);
  if (d.global_k >= d.shard.global_sizes.size()) return false;
  if (bn_sync_ && d.shard.global_sizes[d.global_k] < world_)  // every rank sees it: all stop together
    fail_input("train.sync_bn: a global batch of ", d.shard.global_sizes[d.global_k], " examples for ", world_,
               " ranks (a resumed epoch?); set data.drop_last: true");
  if (d.shard.local_sizes[d.global_k++] > 0) CHECK(d.loader->next(b), "shard: batch ", d.global_k, " missing");
  else b = Batch{};  // no example of the last global batch is this rank's
  return true;
}

// Forward, loss, and (unless the loss is not finite anywhere) backward into the arena's gradients;
// the batch that closes an accumulation group takes the optimizer step.
void Trainer::train_batch(const Batch& batch, int64_t epoch, const EpochData& d, EpochProgress& p) {
  ++st_.batches_done;
  sv_ = schedule_at(st_.step);
  const int64_t n = batch.y.defined() ? batch.y.size(0) : 0;
  Variable logits, loss;
  float loss_value = 0;
  int64_t correct = 0;
  if (n > 0) {
    logits = model_.forward(ctx_, Variable(on_device(ctx_, batch.x)));
    const float smoothing = static_cast<float>(opt_.label_smoothing);
    loss = batch.y_soft.defined() ? ops::cross_entropy_soft(ctx_, logits, batch.y_soft, smoothing)  // mixup, cutmix
                                  : ops::cross_entropy(ctx_, logits, batch.y, smoothing);
    loss_value = loss.item();
    if (std::isfinite(loss_value)) correct = count_correct(logits.data(), batch.y);
  }
  // this batch over all ranks (one process: itself)
  double images = static_cast<double>(n), loss_sum = static_cast<double>(loss_value) * static_cast<double>(n),
         mean_loss = loss_value, correct_all = static_cast<double>(correct);
  // Divergence counts as a non-finite loss: a finite loss far above the first one (Adam at lr 1e6
  // reaches 1e22) trains nothing useful either.
  if (first_loss_ < 0 && std::isfinite(loss_value)) first_loss_ = loss_value;
  const bool diverged = std::isfinite(loss_value) && loss_value > kDivergence * std::max(first_loss_, 1.0);
  bool finite = std::isfinite(loss_value) && !diverged;
  const bool group_end = st_.batches_done % opt_.accumulate_steps == 0 || st_.batches_done == d.batches;
  if (local_sgd_ > 0) {  // this rank's batch steps alone; its totals are summed when the ranks next average
    using Average = EpochProgress::Average;
    p.averages = group_end ? averages_at(st_.step + 1, st_.batches_done == d.batches) : Average::none;
    if (!finite && p.averages == Average::none)  // skipped here alone, the ranks' step counts would part
      fail_input("step ", st_.step + 1, " (epoch ", epoch, "): the loss is ",
                 std::isnan(loss_value) ? "NaN" : "not finite or diverging", " on rank ", rank_,
                 " between two averages of train.dist_local_sgd, which train.skip_nonfinite cannot skip; resume "
                 "from the last checkpoint with a lower optim.lr");
    images = static_cast<double>(d.shard.global_sizes[d.global_k - 1]);  // every rank's, for the sampler
    finite = sum_pending(n, loss_value, correct, finite, p);
    loss_sum = correct_all = 0;  // sum_pending adds them to the epoch's sums
  } else if (comm_) {
    const Clock::time_point waited_from = Clock::now();
    const dist::BatchTotals t = dist::reduce_batch(*comm_, n, loss_value, correct, !finite);
    p.comm_wait_s += seconds_since(waited_from);
    images = t.images, loss_sum = t.loss_sum, correct_all = t.correct, finite = t.nonfinite == 0;
    mean_loss = images > 0 ? loss_sum / images : 0.0;
  }
  st_.images_done += static_cast<int64_t>(images);
  if (!finite) {
    fail_or_skip_nonfinite(loss_value, diverged, epoch);
  } else {
    if (p.used_in_group == 0) arena_.zero_grad();
    // accumulates into the arena's gradients; data-parallel: each rank's mean loss weighted by its
    // share of the global batch times the ranks (the all-reduce divides by the ranks). The batch
    // that completes the step starts the gradient buckets' all-reduce as it goes.
    const GradReadyFn on_ready = grad_sum_ && opt_.dist_overlap && group_end ? grad_sum_->hook() : GradReadyFn();
    if (n > 0 && (!comm_ || local_sgd_ > 0 || n * world_ == static_cast<int64_t>(images))) loss.backward(on_ready);
    else if (n > 0)
      ops::mul_scalar(ctx_, loss, static_cast<float>(static_cast<double>(n * world_) / images)).backward(on_ready);
    ++p.used_in_group;
    p.group_loss += mean_loss;
    st_.loss_sum += loss_sum;
    st_.correct += static_cast<int64_t>(correct_all);
    if (local_sgd_ == 0) st_.seen += static_cast<int64_t>(images);
  }
  p.seen_now += static_cast<int64_t>(images);
  if (group_end && p.used_in_group > 0) optimizer_step(epoch, p);
  if (group_end) p.used_in_group = 0, p.group_loss = 0;
  if (group_end && world_ == 1 && hooks_.should_stop && hooks_.should_stop()) {  // a checkpoint, then the caller ends
    save_checkpoint();
    result_.interrupted = true;
  }
  if (hooks_.on_step)
    hooks_.on_step({epoch, st_.batches_done, d.batches, static_cast<float>(mean_loss), sv_.lr,
                    static_cast<double>(p.seen_now) / seconds_since(p.t0),
                    st_.seen ? static_cast<double>(st_.correct) / static_cast<double>(st_.seen) : 0.0, st_.step});
}

// Local SGD: the step closing this group averages the ranks' weights every train.dist_local_sgd
// steps (each rank keeps its own momentum between, as local SGD does), and weights and momentum
// both before anything reads the ranks as one: the epoch's end (evaluation), a checkpoint (rank 0
// saves what every rank then holds, so a resume continues exactly), the run's last step.
Trainer::EpochProgress::Average Trainer::averages_at(int64_t step, bool epoch_end) const {
  if (epoch_end || (opt_.checkpoint_every_steps > 0 && step % opt_.checkpoint_every_steps == 0) ||
      (opt_.max_steps > 0 && step >= opt_.max_steps))
    return EpochProgress::Average::all;
  return step % local_sgd_ == 0 ? EpochProgress::Average::weights : EpochProgress::Average::none;
}

// Local SGD: a batch's totals (examples, loss, correct) wait here until the ranks average; then
// they are summed over the ranks into the epoch's sums, with a non-finite count. Returns whether the
// batch is finite everywhere (between averages: on this rank).
bool Trainer::sum_pending(int64_t n, float loss_value, int64_t correct, bool finite, EpochProgress& p) {
  if (finite) {
    pending_.images += static_cast<double>(n);
    pending_.loss_sum += static_cast<double>(loss_value) * static_cast<double>(n);
    pending_.correct += static_cast<double>(correct);
  }
  if (p.averages == EpochProgress::Average::none) return finite;
  pending_.nonfinite = finite ? 0.0 : 1.0;
  const Clock::time_point waited_from = Clock::now();
  const dist::BatchTotals t = dist::sum_totals(*comm_, pending_);
  p.comm_wait_s += seconds_since(waited_from);
  st_.seen += static_cast<int64_t>(t.images), st_.loss_sum += t.loss_sum, st_.correct += static_cast<int64_t>(t.correct);
  pending_ = {};
  return t.nonfinite == 0;
}

// Local SGD: the ranks' weights and batch-norm statistics become their means, and with
// Average::all their SGD momentum too.
void Trainer::average_ranks(EpochProgress& p) {
  std::vector<dist::FloatSpan> spans{{arena_.data(), arena_.size()}};
  if (p.averages == EpochProgress::Average::all)
    for (auto& [name, buffer] : optimizer_->state().buffers)
      if (!buffer->empty()) spans.push_back({buffer->data(), static_cast<int64_t>(buffer->size())});
  for (auto& [name, t] : model_.named_buffers())
    if (t->dtype() == DType::f32) spans.push_back({t->data<float>(), t->numel()});
  const Clock::time_point waited_from = Clock::now();
  dist::average_spans(*comm_, spans, avg_scratch_);
  p.comm_wait_s += seconds_since(waited_from);
}

// A NaN or infinite loss skips its batch while train.skip_nonfinite allows, then stops the run
// naming the last good checkpoint.
void Trainer::fail_or_skip_nonfinite(float loss_value, bool diverged, int64_t epoch) {
  char diverging[96];
  std::snprintf(diverging, sizeof diverging, "diverging (%.3g, over %.0e times the first step's %.3g)",
                static_cast<double>(loss_value), kDivergence, first_loss_);
  const char* what = diverged                  ? diverging
                     : std::isfinite(loss_value) ? "non-finite or diverging on another rank"
                     : std::isnan(loss_value)    ? "NaN"
                                                 : "infinite";
  if (st_.nonfinite_skipped >= opt_.skip_nonfinite)
    fail_input("step ", st_.step + 1, " (epoch ", epoch, ", batch ", st_.batches_done, "): the loss is ", what,
               "; training stopped. ",
               result_.last_checkpoint.empty()
                   ? std::string("No checkpoint was written yet (train.checkpoint_every_steps).")
                   : "Last good checkpoint: " + result_.last_checkpoint + " (cvtrain train --resume " + out_.dir + ").",
               " Try a lower optim.lr, train.clip_grad_norm, or train.skip_nonfinite");
  ++st_.nonfinite_skipped;
  std::fprintf(stderr, "cvtrain: step %lld: the loss is %s; batch skipped (%lld of %lld allowed)\n",
               static_cast<long long>(st_.step + 1), what, static_cast<long long>(st_.nonfinite_skipped),
               static_cast<long long>(opt_.skip_nonfinite));
}

// The mean of the group's batch gradients (an effective batch of accumulate x batch_size), summed over
// the ranks and divided by their number: the global batch's mean gradient; then clipping, the
// optimizer, EMA, the step log, the diagnostics hook and the step checkpoint.
void Trainer::optimizer_step(int64_t epoch, EpochProgress& p) {
  const Clock::time_point waited_from = Clock::now();
  if (local_sgd_ > 0) {
    // this rank's own gradient; the weights are averaged after the step
  } else if (grad_sum_) {
    grad_sum_->finish();  // starts the buckets not started yet, waits for all
  } else if (comm_ && world_ > 1)        // device: cuda, NCCL: the mean, on the GPU's stream
    comm_->allreduce_mean_device(arena_.device_grad(), arena_.size(), *ctx_.cuda, "the gradient all-reduce");
  if (comm_) p.comm_wait_s += seconds_since(waited_from);
  const int64_t summed = p.used_in_group * (local_sgd_ > 0 ? 1 : world_);  // gradients added into the arena
  if (summed > 1 && !arena_.on_cuda()) scale_grads(arena_, 1.0f / static_cast<float>(summed));
  const bool log_now = log_ && log_every_ > 0 && (st_.step + 1) % log_every_ == 0;
  double norm = -1;
  if (log_now || opt_.clip_grad_norm > 0) arena_.sync_to_host();  // device: cuda: the norm on the host mirror
  if (opt_.clip_grad_norm > 0 || log_now) norm = grad_norm(arena_);
  clip_gradients(norm);
  optimizer_->step(sv_.lr, sv_.momentum);
  if (local_sgd_ > 0 && p.averages != EpochProgress::Average::none) average_ranks(p);
  ema_.update();
  ++st_.step;
  if (log_now)
    log_->on_step({st_.step, epoch, p.group_loss / static_cast<double>(p.used_in_group), sv_.lr, norm,
                   static_cast<double>(p.seen_now) / seconds_since(p.t0)});
  if (hooks_.on_every_steps && hooks_.every_steps > 0 && st_.step % hooks_.every_steps == 0)
    arena_.sync_to_host(), hooks_.on_every_steps(st_.step, model_, arena_);
  if (opt_.checkpoint_every_steps > 0 && st_.step % opt_.checkpoint_every_steps == 0) save_checkpoint();
}

// torch.nn.utils.clip_grad_norm_ (scale by max_norm / (norm + 1e-6) when that is below 1), then
// clip_grad_value_; `norm` is the gradients' global L2 norm when clipping by norm.
void Trainer::clip_gradients(double norm) {
  if (opt_.clip_grad_norm > 0 && norm > opt_.clip_grad_norm)
    scale_grads(arena_, static_cast<float>(opt_.clip_grad_norm / (norm + 1e-6)));
  if (opt_.clip_grad_value <= 0) return;
  const float v = static_cast<float>(opt_.clip_grad_value);
  if (arena_.on_cuda()) return cuda::clamp_inplace(*arena_.cuda_runtime(), arena_.device_grad(), -v, v, arena_.size());
  float* g = arena_.grad();
  for (int64_t i = 0; i < arena_.size(); ++i) g[i] = std::clamp(g[i], -v, v);
}

// The epoch's metrics and evaluation, the logs and hooks, snapshots, and the checkpoint that closes it.
void Trainer::end_epoch(int64_t epoch, const EpochData& d, const EpochProgress& p) {
  EpochMetrics m;
  m.epoch = epoch;
  m.step = st_.step;
  m.seconds = seconds_since(p.t0);
  m.train_loss = st_.seen ? st_.loss_sum / static_cast<double>(st_.seen) : NAN;
  m.train_acc = st_.seen ? static_cast<double>(st_.correct) / static_cast<double>(st_.seen) : NAN;
  m.images_per_s = static_cast<double>(p.seen_now) / m.seconds;
  m.data_wait_s = d.loader->wait_seconds();
  if (comm_ && world_ > 1) m.comm_wait_s = p.comm_wait_s;
  m.lr = sv_.lr;
  // per-rank batch-norm statistics: rank 0's everywhere (as DDP's broadcast_buffers), so every rank
  // measures the same accuracy and takes the same early-stopping decision
  if (comm_ && world_ > 1 && dist::sync_model(*comm_, model_, arena_) && rank_ == 0)
    std::fprintf(stderr, "cvtrain: epoch %lld: the ranks' weights differed (all-reduce rounding); rank 0's were "
                         "sent to all\n", static_cast<long long>(epoch));
  const bool last = epoch == opt_.epochs || (opt_.max_steps > 0 && st_.step >= opt_.max_steps) ||
                    epoch == hooks_.pause_after_epoch;  // a pause is evaluated too
  if (epoch % opt_.eval_every == 0 || last) evaluate_epoch(epoch, m);
  result_.history.push_back(m);
  arena_.sync_to_host();  // device: cuda: logs and checkpoints read the host mirror
  if (log_) log_->on_epoch(m, arena_);
  if (hooks_.on_epoch) hooks_.on_epoch(m);
  if (writes_ && opt_.snapshots && (last || (parts_.cycle_end && parts_.cycle_end(epoch))))
    save_snapshot(out_.dir, epoch, model_, out_.metadata);  // ensemble.h
  st_.epoch += 1;
  st_.batches_done = 0, st_.images_done = 0;
  st_.loss_sum = 0, st_.correct = 0, st_.seen = 0;
  save_checkpoint();
}

// The validation and test splits with the raw weights and, with EMA, the averaged ones; then the
// choices, on the validation split alone.
void Trainer::evaluate_epoch(int64_t epoch, EpochMetrics& m) {
  m.evaluated = true;
  m.has_ema = !ema_.values().empty();
  EvalResult ema;
  if (val_) {
    const EvalResult v = evaluate_on(*val_, "val", &ema);
    m.has_val = true;
    m.val_loss = v.loss, m.val_acc = v.accuracy;
    m.ema_val_loss = ema.loss, m.ema_val_acc = ema.accuracy;
  }
  const EvalResult t = evaluate_on(test_, "test", &ema);
  m.test_loss = t.loss, m.test_acc = t.accuracy;
  m.ema_test_loss = ema.loss, m.ema_test_acc = ema.accuracy;
  if (val_) choose(epoch, m.val_acc);
  if (parts_.plateau) parts_.plateau->step(m.val_loss);  // lowers the lr of the steps to come
}

// The schedule's lr and momentum at `step`, with plateau's reductions so far.
optim::ScheduleValue Trainer::schedule_at(int64_t step) const {
  optim::ScheduleValue v = schedule_(step);
  if (parts_.plateau) v.lr = static_cast<float>(v.lr * parts_.plateau->scale());
  return v;
}

// `data` (the `split`) with the raw weights; with EMA, `with_ema` receives the averaged weights' result.
EvalResult Trainer::evaluate_on(const Dataset& data, const char* split, EvalResult* with_ema) {
  const PassProgress progress = hooks_.eval_progress ? hooks_.eval_progress(split) : PassProgress();
  const EvalResult raw = evaluate(ctx_, model_, data, norm_, opt_.eval_batch_size, out_.preprocess, progress);
  if (!ema_.values().empty()) {
    ema_.swap();
    *with_ema = evaluate(ctx_, model_, data, norm_, opt_.eval_batch_size, out_.preprocess, progress);
    ema_.swap();
  }
  return raw;
}

// The best model so far (best.safetensors) and early stopping, by validation accuracy.
void Trainer::choose(int64_t epoch, double val_acc) {
  if (val_acc > st_.best_acc + opt_.early_stop_min_delta) {
    st_.best_acc = val_acc;
    st_.best_epoch = epoch;
    st_.evals_since_best = 0;
    if (writes_) {
      auto meta = out_.metadata;
      meta["best_epoch"] = std::to_string(epoch);
      meta["best_val_acc"] = std::to_string(val_acc);
      save_model_file(out_.dir + "/best.safetensors", model_, meta);
    }
  } else {
    ++st_.evals_since_best;
  }
  if (opt_.early_stop_patience > 0 && st_.evals_since_best >= opt_.early_stop_patience)
    stop_ = result_.early_stopped = true;
}

void Trainer::save_checkpoint() {
  if (!writes_) return;
  st_.history_json = history_to_json(result_.history);
  st_.rng_now = ctx_.rng.state();
  st_.world = world_ > 1 || comm_ ? world_ : 0;
  if (parts_.plateau) {
    const optim::Plateau::State& p = parts_.plateau->state();
    st_.plateau_best = p.best, st_.plateau_bad = p.bad, st_.plateau_lr = p.lr;
  }
  const std::string path = checkpoint_path(out_.dir, st_.step);
  write_checkpoint(path, model_, *optimizer_, ema_.values(), st_, out_.metadata);
  prune_checkpoints(out_.dir, opt_.keep_last);
  result_.last_checkpoint = path;
}

}  // namespace

FitParts make_fit_parts(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train,
                        dist::Communicator* comm) {
  FitParts p;
  p.arena = std::make_unique<nn::ParameterArena>(prepare_model(ctx, model, cfg));
  const optim::OptimOptions o = transfer_optim_options(cfg, *p.arena);  // cfg.optim, model.freeze expanded
  p.optimizer = optim::make_optimizer(*p.arena, o);
  p.frozen = o.freeze;
  if (cfg.transfer.freeze_epochs > 0 && !o.freeze.empty()) {  // model.freeze_epochs
    p.unfreeze_at_epoch = cfg.transfer.freeze_epochs + 1;
    optim::OptimOptions all = o;
    all.freeze.clear();
    p.unfrozen = [arena = p.arena.get(), all] { return optim::make_optimizer(*arena, all); };
  }
  p.freeze_bn = cfg.transfer.freeze_bn;
  p.loader = {cfg.data.augment, cfg.data.workers, cfg.data.drop_last, {cfg.data.mixup_alpha, cfg.data.cutmix_alpha},
              static_cast<uint64_t>(cfg.seed)};
  const int64_t world = comm ? comm->size() : 1;
  const int64_t batches = epoch_batches(train.size(), cfg.train.batch_size, cfg.data.drop_last, comm);
  if (batches == 0)
    fail_input("train.batch_size: ", cfg.train.batch_size, " x ", world, " ranks is more than the ", train.size(),
               " training images with data.drop_last");
  p.schedule = optim::make_schedule(cfg.schedule, schedule_run(cfg, batches, world));
  if (cfg.schedule.name == "plateau") p.plateau.emplace(optim::in_steps(cfg.schedule, schedule_run(cfg, batches, world)).o);
  p.cycle_end = [cfg](int64_t epoch) { return is_cycle_end(cfg, epoch); };
  return p;
}

FitResult fit(Context& ctx, nn::Module& model, const TrainOptions& opt, FitParts& parts, const Dataset& train,
              const Dataset* val, const Dataset& test, const Normalization& norm, const TrainHooks& hooks,
              const RunOutput& out) {
  Trainer trainer(ctx, model, opt, parts, train, val, test, norm, hooks, out);
  return trainer.run();
}

FitResult fit(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train, const Dataset* val,
              const Dataset& test, const Normalization& norm, const TrainHooks& hooks, const RunOutput& out) {
  FitParts parts = make_fit_parts(ctx, model, cfg, train, out.comm);
  return fit(ctx, model, cfg.train, parts, train, val, test, norm, hooks, out);
}

double measure_train_throughput(Context& ctx, nn::Module& model, const RunConfig& cfg, const Shape& image_shape,
                                int64_t num_classes, int64_t warmup, int64_t steps, int64_t* allocations) {
  nn::ParameterArena arena(prepare_model(ctx, model, cfg));
  std::unique_ptr<optim::Optimizer> optimizer = optim::make_optimizer(arena, cfg.optim);
  const int64_t b = cfg.train.batch_size;
  Shape xs{b};
  xs.insert(xs.end(), image_shape.begin(), image_shape.end());
  Tensor x = Tensor::empty(xs), y = Tensor::empty({b}, DType::i64);
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) px[i] = ctx.rng.normal();
  int64_t* py = y.data<int64_t>();
  for (int64_t i = 0; i < b; ++i) py[i] = static_cast<int64_t>(ctx.rng.below(static_cast<uint64_t>(num_classes)));
  x = on_device(ctx, x), y = on_device(ctx, y);
  model.train();
  auto one_step = [&] {
    Variable loss = ops::cross_entropy(ctx, model.forward(ctx, Variable(x)), y);
    arena.zero_grad();
    loss.backward();
    optimizer->step(static_cast<float>(cfg.schedule.lr) * 0.01f, static_cast<float>(cfg.optim.momentum));
  };
  for (int64_t i = 0; i < warmup; ++i) one_step();
  const int64_t misses = ctx.storage.cache().stats().misses;
  if (ctx.cuda) ctx.cuda->synchronize(), ctx.cuda->profile_reset();  // the GPU runs behind the host: time whole steps
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) one_step();
  if (ctx.cuda) ctx.cuda->synchronize();
  const double seconds = seconds_since(t0);
  if (allocations) *allocations = ctx.storage.cache().stats().misses - misses;
  return static_cast<double>(steps * b) / seconds;
}

}  // namespace cvtrain
