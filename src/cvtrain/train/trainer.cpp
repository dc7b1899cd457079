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
  if (cfg.optim_name != "sgd" && cfg.optim_name != "adam" && cfg.optim_name != "adamw")
    fail_input("optim.name: only sgd, adam and adamw run with device: cuda so far, got ", cfg.optim_name);
  if (cfg.train_ema_decay > 0) fail_input("train.ema_decay: not supported with device: cuda yet");
  // NOTE: accumulation compiles on the GPU (scale_grads) but its losses differed from the CPU's by 13%
  // after 8 steps on an H200 (2026-11-26), against < 1% for the other options: off until understood.
  if (cfg.train_accumulate_steps > 1) fail_input("train.accumulate_steps: not supported with device: cuda yet");
  ctx.cuda->set_bf16(cfg.train_precision == "bf16");  // bf16 convolutions and matmuls on tensor cores (docs/cuda.md)
  for (auto& [name, v] : model.named_parameters())
    if (!v->data().is_cuda()) v->data() = v->data().to_cuda(ctx.cuda);
  for (auto& [name, t] : model.named_buffers())  // num_batches_tracked (i64) stays a host counter
    if (t->dtype() == DType::f32 && !t->is_cuda()) *t = t->to_cuda(ctx.cuda);
}

AugmentOptions augment_options(const RunConfig& cfg) {
  return {cfg.data_augment, cfg.data_workers, cfg.data_drop_last, {cfg.data_mixup_alpha, cfg.data_cutmix_alpha},
          static_cast<uint64_t>(cfg.seed)};
}

}  // namespace

optim::OptimOptions optim_options(const RunConfig& cfg) {
  optim::OptimOptions o;
  o.name = cfg.optim_name;
  o.weight_decay = static_cast<float>(cfg.optim_weight_decay);
  o.l1 = static_cast<float>(cfg.optim_l1);
  o.momentum = static_cast<float>(cfg.optim_momentum);
  o.dampening = static_cast<float>(cfg.optim_dampening);
  o.nesterov = cfg.optim_nesterov;
  o.beta1 = static_cast<float>(cfg.optim_beta1);
  o.beta2 = static_cast<float>(cfg.optim_beta2);
  o.eps = static_cast<float>(cfg.optim_eps);
  o.alpha = static_cast<float>(cfg.optim_alpha);
  o.centered = cfg.optim_centered;
  o.lr_decay = static_cast<float>(cfg.optim_lr_decay);
  o.initial_accumulator = static_cast<float>(cfg.optim_initial_accumulator);
  o.decay_bias_and_norm = cfg.optim_decay_bias_and_norm;
  o.bias_lr_mult = static_cast<float>(cfg.optim_bias_lr_mult);
  return o;
}

int64_t optimizer_steps_per_epoch(const RunConfig& cfg, int64_t batches_per_epoch) {
  return (batches_per_epoch + cfg.train_accumulate_steps - 1) / cfg.train_accumulate_steps;
}

optim::ScheduleSpec schedule_spec(const RunConfig& cfg, int64_t batches_per_epoch, int64_t world) {
  const int64_t spe = optimizer_steps_per_epoch(cfg, batches_per_epoch);
  optim::ScheduleSpec s;
  s.name = cfg.optim_schedule;
  // the global batch: every rank's batch, accumulated
  s.base_lr = optim::scaled_lr(cfg.optim_lr, cfg.optim_scale_lr,
                               cfg.train_batch_size * cfg.train_accumulate_steps * world, cfg.optim_base_batch_size);
  // Schedules that move the momentum move Adam's beta1 (as torch's OneCycleLR does).
  const bool betas = cfg.optim_name == "adam" || cfg.optim_name == "adamw";
  s.base_momentum = betas ? cfg.optim_beta1 : cfg.optim_momentum;
  s.total_steps = cfg.train_max_steps > 0 ? cfg.train_max_steps : cfg.train_epochs * spe;
  s.pct_start = cfg.optim_pct_start;
  s.cycle_momentum = cfg.optim_cycle_momentum;
  s.onecycle_base_momentum = cfg.optim_base_momentum;
  s.onecycle_max_momentum = cfg.optim_max_momentum;
  s.min_lr = cfg.optim_min_lr;
  // the config counts in epochs, the schedule in steps
  s.gamma = cfg.optim_schedule == "exponential" ? std::pow(cfg.optim_gamma, 1.0 / static_cast<double>(spe))
                                                : cfg.optim_gamma;
  s.step_size = cfg.optim_step_size * spe;
  for (int64_t m : optim::parse_milestones(cfg.optim_milestones, "optim.milestones")) s.milestones.push_back(m * spe);
  s.restart_period = cfg.optim_restart_period * spe;
  s.restart_mult = cfg.optim_restart_mult;
  s.power = cfg.optim_power;
  s.warmup_steps = cfg.optim_warmup_steps > 0 ? cfg.optim_warmup_steps : cfg.optim_warmup_epochs * spe;
  s.warmup_start_factor = cfg.optim_warmup_start_factor;
  return s;
}

int64_t planned_epochs(const RunConfig& cfg, int64_t batches_per_epoch) {
  const int64_t spe = optimizer_steps_per_epoch(cfg, batches_per_epoch);
  return cfg.train_max_steps > 0 ? (cfg.train_max_steps + spe - 1) / spe : cfg.train_epochs;
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
                    int64_t batch_size, const Preprocess* preprocess) {
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
  }
  r.seconds = seconds_since(t0);
  r.loss = r.images ? loss_sum / static_cast<double>(r.images) : 0.0;
  r.accuracy = r.images ? static_cast<double>(correct) / static_cast<double>(r.images) : 0.0;
  return r;
}

FitResult fit(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train, const Dataset& test,
              const Normalization& norm, const TrainHooks& hooks, const RunOutput& out) {
  ctx.dnnl.set_bf16(cfg.train_precision == "bf16");  // issue 9: mixed precision (backend/cpu/dnnl_runtime.h)
  ctx.dnnl.set_bf16_activations(cfg.train_bf16_activations);
  ctx.dnnl.set_channels_last(cfg.train_memory_format == "channels_last");  // issue 9: NHWC activations (CPU)
  model_to_device(ctx, model, cfg);                   // device: cuda
  nn::ParameterArena arena(model);
  // transfer_optim_options: optim_options plus model.freeze and optim.lr_mult (transfer.h)
  const optim::OptimOptions optim_opts = transfer_optim_options(cfg, arena);
  std::unique_ptr<optim::Optimizer> optimizer = optim::make_optimizer(arena, optim_opts);
  stop_frozen_gradients(model, optim_opts.freeze);  // frozen layers: no gradient computed (transfer.h)
  BatchLoader loader(train, norm, cfg.train_batch_size, /*shuffle=*/true, augment_options(cfg));
  if (out.preprocess) loader.set_preprocess(*out.preprocess);
  // Data-parallel (out.comm): each rank reads its shard of every epoch (dist/sampler.h); a step's
  // gradient is the mean over the global batch of batch_size x ranks; rank 0 alone writes.
  dist::Communicator* comm = out.comm;
  const int world = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  const int64_t batches = comm ? dist::global_batches(train.size(), cfg.train_batch_size * world, cfg.data_drop_last)
                               : loader.num_batches();
  if (batches == 0) fail_input("train.batch_size: ", cfg.train_batch_size, " x ", world, " ranks is more than the ",
                               loader.size(), " training images with data.drop_last");
  const int64_t accumulate = cfg.train_accumulate_steps;
  const auto schedule = optim::make_schedule(schedule_spec(cfg, batches, world));
  const float smoothing = static_cast<float>(cfg.train_label_smoothing);
  const float ema_decay = static_cast<float>(cfg.train_ema_decay);
  const bool writes = !out.dir.empty() && rank == 0;

  // EMA of the weights and batch-norm statistics (trainer.h), after every optimizer step
  ModelEma model_ema(model, arena, ema_decay);
  std::vector<float>& ema = model_ema.values();
  const int64_t max_steps = cfg.train_max_steps;  // 0: train.epochs decides

  FitResult result;
  TrainState st;
  if (out.resume) {
    restore_checkpoint(*out.resume, model, *optimizer, ema);
    st = out.resume->state;
    result.history = history_from_json(st.history_json);
    ctx.rng.set_state(st.rng_now);
    result.last_checkpoint = checkpoint_path(out.dir, st.step);
  }
  if (comm && world > 1 && ctx.cuda && !comm->has_device_allreduce())
    fail_input("device: cuda: data-parallel training on GPUs needs a build with NCCL (CVTRAIN_CUDA=ON, "
               "docs/distributed.md); this one sums on the CPU only");
  // train.sync_bn: batch norm's statistics over the global batch (base/batchnorm_sync.h), for the run
  std::unique_ptr<dist::CommBatchNormSync> bn_sync;
  struct SyncReset {
    Context& ctx;
    ~SyncReset() { ctx.batchnorm_sync = nullptr; }
  } sync_reset{ctx};
  if (comm && world > 1 && cfg.train_sync_bn) {
    if (ctx.cuda) fail_input("train.sync_bn: runs on the CPU only so far (device: cuda; docs/distributed.md)");
    const int64_t last = train.size() % (cfg.train_batch_size * world);
    if (!cfg.data_drop_last && last > 0 && last < world)  // a rank without examples would miss the collectives
      fail_input("train.sync_bn: the last global batch has ", last, " examples for ", world,
                 " ranks; set data.drop_last: true or change train.batch_size");
    bn_sync = std::make_unique<dist::CommBatchNormSync>(*comm);
    ctx.batchnorm_sync = bn_sync.get();
  }
  // the gradient all-reduce in buckets, overlapped with the backward pass (train.dist_overlap)
  std::unique_ptr<dist::GradientAllreduce> grad_sum;
  if (comm && world > 1 && !ctx.cuda)
    grad_sum = std::make_unique<dist::GradientAllreduce>(
        *comm, model, arena, std::max<int64_t>(1, static_cast<int64_t>(cfg.train_dist_bucket_mb * 262144)));
  if (comm && world > 1) {
    dist::broadcast_model(*comm, model, arena);  // every rank starts from rank 0's weights
    Rng::State r = ctx.rng.state();               // dropout masks differ per rank
    r.seed += 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank);
    ctx.rng.set_state(r);
  }
  std::unique_ptr<TrainLog> log;
  if (writes) log = std::make_unique<TrainLog>(out.dir, cfg, result.history, st.step);
  if (log && !out.resume) log->augmentation_preview(train);

  auto save_checkpoint = [&] {
    if (!writes) return;
    st.history_json = history_to_json(result.history);
    st.rng_now = ctx.rng.state();
    st.world = world > 1 || comm ? world : 0;
    const std::string path = checkpoint_path(out.dir, st.step);
    write_checkpoint(path, model, *optimizer, ema, st, out.metadata);
    prune_checkpoints(out.dir, cfg.train_keep_last);
    result.last_checkpoint = path;
  };

  bool stop = st.evals_since_best >= cfg.train_early_stop_patience && cfg.train_early_stop_patience > 0;
  optim::ScheduleValue sv = schedule(st.step);
  for (; (max_steps > 0 ? st.step < max_steps : st.epoch <= cfg.train_epochs) && !stop;) {
    const int64_t epoch = st.epoch;
    model.train();
    if (cfg.model_freeze_bn) freeze_batchnorm(model);  // transfer.h
    // The shuffle depends only on the RNG state at start_epoch; a resumed epoch replays it and
    // skips the batches already consumed, then takes up the RNG where the checkpoint left it.
    // Data-parallel: the epoch's shard after the examples already consumed (any number of ranks).
    Batch batch;
    dist::Shard shard;
    Dataset shard_data;
    std::unique_ptr<BatchLoader> shard_loader;
    BatchLoader* cur = &loader;
    if (comm) {
      shard = dist::shard_epoch(train.size(), static_cast<uint64_t>(cfg.seed), epoch - 1, st.images_done, rank, world,
                                cfg.train_batch_size, cfg.data_drop_last);
      shard_data = dist::gather(train, shard.indices);
      AugmentOptions ao = augment_options(cfg);
      ao.seed += 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank);  // the ranks' streams differ
      shard_loader = std::make_unique<BatchLoader>(shard_data, norm, cfg.train_batch_size, /*shuffle=*/false, ao);
      if (out.preprocess) shard_loader->set_preprocess(*out.preprocess);
      shard_loader->set_epoch(epoch - 1);
      shard_loader->start_epoch(ctx.rng);
      cur = shard_loader.get();
    } else {
      const bool resumed_mid_epoch = st.batches_done > 0;
      if (resumed_mid_epoch) ctx.rng.set_state(st.rng_epoch_start);
      else st.rng_epoch_start = ctx.rng.state();
      loader.set_epoch(epoch - 1);
      loader.start_epoch(ctx.rng);
      for (int64_t b = 0; b < st.batches_done; ++b) CHECK(loader.next(batch), "resume: batch ", b, " of ", batches);
      if (resumed_mid_epoch) ctx.rng.set_state(st.rng_now);
    }
    const int64_t epoch_batches = comm ? st.batches_done + static_cast<int64_t>(shard.global_sizes.size()) : batches;
    size_t global_k = 0;  // data-parallel: global batches of the shard taken
    auto next_batch = [&](Batch& b) {
      if (!comm) return cur->next(b);
      if (global_k >= shard.global_sizes.size()) return false;
      if (bn_sync && shard.global_sizes[global_k] < world)  // every rank sees it: all stop together
        fail_input("train.sync_bn: a global batch of ", shard.global_sizes[global_k], " examples for ", world,
                   " ranks (a resumed epoch?); set data.drop_last: true");
      if (shard.local_sizes[global_k++] > 0) CHECK(cur->next(b), "shard: batch ", global_k, " missing");
      else b = Batch{};  // no example of the last global batch is this rank's
      return true;
    };

    int64_t used_in_group = 0, seen_now = 0;
    double group_loss = 0;
    cur->reset_wait();
    const auto t0 = Clock::now();
    while (next_batch(batch)) {
      ++st.batches_done;
      sv = schedule(st.step);
      const int64_t n = batch.y.defined() ? batch.y.size(0) : 0;
      Variable logits, loss;
      float loss_value = 0;
      int64_t correct = 0;
      if (n > 0) {
        logits = model.forward(ctx, Variable(on_device(ctx, batch.x)));
        loss = batch.y_soft.defined() ? ops::cross_entropy_soft(ctx, logits, on_device(ctx, batch.y_soft))
                                      : ops::cross_entropy(ctx, logits, batch.y, smoothing);
        loss_value = loss.item();
        if (std::isfinite(loss_value)) correct = count_correct(logits.data(), batch.y);
      }
      // this batch over all ranks (one process: itself)
      double images = static_cast<double>(n), loss_sum = static_cast<double>(loss_value) * static_cast<double>(n),
             mean_loss = loss_value, correct_all = static_cast<double>(correct);
      bool finite = std::isfinite(loss_value);
      if (comm) {
        const dist::BatchTotals t = dist::reduce_batch(*comm, n, loss_value, correct, !finite);
        images = t.images, loss_sum = t.loss_sum, correct_all = t.correct, finite = t.nonfinite == 0;
        mean_loss = images > 0 ? loss_sum / images : 0.0;
      }
      st.images_done += static_cast<int64_t>(images);
      if (!finite) {
        const char* what = std::isfinite(loss_value) ? "non-finite on another rank"
                           : std::isnan(loss_value)  ? "NaN"
                                                     : "infinite";
        if (st.nonfinite_skipped >= cfg.train_skip_nonfinite)
          fail_input("step ", st.step + 1, " (epoch ", epoch, ", batch ", st.batches_done, "): the loss is ", what,
                     "; training stopped. ",
                     result.last_checkpoint.empty()
                         ? std::string("No checkpoint was written yet (train.checkpoint_every_steps).")
                         : "Last good checkpoint: " + result.last_checkpoint + " (cvtrain train --resume " + out.dir +
                               ").",
                     " Try a lower optim.lr, train.clip_grad_norm, or train.skip_nonfinite");
        ++st.nonfinite_skipped;
        std::fprintf(stderr, "cvtrain: step %lld: the loss is %s; batch skipped (%lld of %lld allowed)\n",
                     static_cast<long long>(st.step + 1), what, static_cast<long long>(st.nonfinite_skipped),
                     static_cast<long long>(cfg.train_skip_nonfinite));
      } else {
        if (used_in_group == 0) arena.zero_grad();
        // accumulates into the arena's gradients; data-parallel: each rank's mean loss weighted by
        // its share of the global batch times the ranks (the all-reduce divides by the ranks).
        // The batch that completes the step starts the gradient buckets' all-reduce as it goes.
        const bool ends_group = st.batches_done % accumulate == 0 || st.batches_done == epoch_batches;
        const GradReadyFn on_ready = grad_sum && cfg.train_dist_overlap && ends_group ? grad_sum->hook() : GradReadyFn();
        if (n > 0 && (!comm || n * world == static_cast<int64_t>(images))) loss.backward(on_ready);
        else if (n > 0)
          ops::mul_scalar(ctx, loss, static_cast<float>(static_cast<double>(n * world) / images)).backward(on_ready);
        ++used_in_group;
        group_loss += mean_loss;
        st.loss_sum += loss_sum;
        st.correct += static_cast<int64_t>(correct_all);
        st.seen += static_cast<int64_t>(images);
      }
      seen_now += static_cast<int64_t>(images);
      const bool group_end = st.batches_done % accumulate == 0 || st.batches_done == epoch_batches;
      if (group_end && used_in_group > 0) {
        // The mean of the batches' mean gradients (an effective batch of accumulate x batch_size),
        // summed over the ranks and divided by their number: the global batch's mean gradient.
        if (grad_sum) grad_sum->finish();  // starts the buckets not started yet, waits for all
        else if (comm && world > 1)          // device: cuda, NCCL: the mean, on the GPU's stream
          comm->allreduce_mean_device(arena.device_grad(), arena.size(), *ctx.cuda, "the gradient all-reduce");
        if (used_in_group * world > 1 && !arena.on_cuda())
          scale_grads(arena, 1.0f / static_cast<float>(used_in_group * world));
        const bool log_now = log && cfg.train_log_every_steps > 0 && (st.step + 1) % cfg.train_log_every_steps == 0;
        double norm = -1;
        // device: cuda: the norm is taken on the host mirror
        if (log_now || cfg.train_clip_grad_norm > 0) arena.sync_to_host();
        if (cfg.train_clip_grad_norm > 0 || log_now) norm = grad_norm(arena);
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1
        if (cfg.train_clip_grad_norm > 0 && norm > cfg.train_clip_grad_norm)
          scale_grads(arena, static_cast<float>(cfg.train_clip_grad_norm / (norm + 1e-6)));
        if (cfg.train_clip_grad_value > 0 && arena.on_cuda()) {  // the same on the GPU
          const float v = static_cast<float>(cfg.train_clip_grad_value);
          cuda::clamp_inplace(*arena.cuda_runtime(), arena.device_grad(), -v, v, arena.size());
        } else if (cfg.train_clip_grad_value > 0) {  // torch.nn.utils.clip_grad_value_
          const float v = static_cast<float>(cfg.train_clip_grad_value);
          float* g = arena.grad();
          for (int64_t i = 0; i < arena.size(); ++i) g[i] = std::clamp(g[i], -v, v);
        }
        optimizer->step(sv.lr, sv.momentum);
        model_ema.update();
        ++st.step;
        if (log_now)
          log->on_step({st.step, epoch, group_loss / static_cast<double>(used_in_group), sv.lr, norm,
                        static_cast<double>(seen_now) / seconds_since(t0)});
        if (hooks.on_every_steps && hooks.every_steps > 0 && st.step % hooks.every_steps == 0)
          arena.sync_to_host(), hooks.on_every_steps(st.step, model, arena);
        if (cfg.train_checkpoint_every_steps > 0 && st.step % cfg.train_checkpoint_every_steps == 0) save_checkpoint();
      }
      if (group_end) used_in_group = 0, group_loss = 0;
      if (hooks.on_step)
        hooks.on_step({epoch, st.batches_done, epoch_batches, static_cast<float>(mean_loss), sv.lr,
                       static_cast<double>(seen_now) / seconds_since(t0),
                       st.seen ? static_cast<double>(st.correct) / static_cast<double>(st.seen) : 0.0, st.step});
      if (max_steps > 0 && st.step >= max_steps) break;  // train.max_steps: the last epoch ends here
    }

    EpochMetrics m;
    m.epoch = epoch;
    m.step = st.step;
    m.seconds = seconds_since(t0);
    m.train_loss = st.seen ? st.loss_sum / static_cast<double>(st.seen) : NAN;
    m.train_acc = st.seen ? static_cast<double>(st.correct) / static_cast<double>(st.seen) : NAN;
    m.images_per_s = static_cast<double>(seen_now) / m.seconds;
    m.data_wait_s = cur->wait_seconds();
    m.lr = sv.lr;
    const bool last = max_steps > 0 ? st.step >= max_steps : epoch == cfg.train_epochs;
    // per-rank batch-norm statistics: rank 0's everywhere (as DDP's broadcast_buffers), so every
    // rank measures the same accuracy and takes the same early-stopping decision
    if (comm && world > 1 && dist::sync_model(*comm, model, arena) && rank == 0)
      std::fprintf(stderr, "cvtrain: epoch %lld: the ranks' weights differed (all-reduce rounding); rank 0's were "
                           "sent to all\n", static_cast<long long>(epoch));
    if (epoch % cfg.train_eval_every == 0 || last) {
      m.evaluated = true;
      EvalResult ev = evaluate(ctx, model, test, norm, cfg.train_eval_batch_size, out.preprocess);
      m.test_loss = ev.loss;
      m.test_acc = ev.accuracy;
      if (!ema.empty()) {
        model_ema.swap();
        EvalResult ee = evaluate(ctx, model, test, norm, cfg.train_eval_batch_size, out.preprocess);
        model_ema.swap();
        m.has_ema = true;
        m.ema_test_loss = ee.loss;
        m.ema_test_acc = ee.accuracy;
      }
      if (m.test_acc > st.best_acc + cfg.train_early_stop_min_delta) {
        st.best_acc = m.test_acc;
        st.best_epoch = epoch;
        st.evals_since_best = 0;
        if (writes) {
          auto meta = out.metadata;
          meta["best_epoch"] = std::to_string(epoch);
          meta["best_test_acc"] = std::to_string(m.test_acc);
          save_model_file(out.dir + "/best.safetensors", model, meta);
        }
      } else {
        ++st.evals_since_best;
      }
      if (cfg.train_early_stop_patience > 0 && st.evals_since_best >= cfg.train_early_stop_patience)
        stop = result.early_stopped = true;
    }
    result.history.push_back(m);
    arena.sync_to_host();  // device: cuda: logs and checkpoints read the host mirror
    if (log) log->on_epoch(m, arena);
    if (hooks.on_epoch) hooks.on_epoch(m);
    if (writes && cfg.train_snapshots) save_snapshot_if_cycle_end(out.dir, cfg, epoch, model, out.metadata);  // ensemble.h
    st.epoch += 1;
    st.batches_done = 0, st.images_done = 0;
    st.loss_sum = 0, st.correct = 0, st.seen = 0;
    save_checkpoint();
  }
  return result;
}

double measure_train_throughput(Context& ctx, nn::Module& model, const RunConfig& cfg, const Shape& image_shape,
                                int64_t num_classes, int64_t warmup, int64_t steps, int64_t* allocations) {
  ctx.dnnl.set_bf16(cfg.train_precision == "bf16");
  ctx.dnnl.set_bf16_activations(cfg.train_bf16_activations);
  ctx.dnnl.set_channels_last(cfg.train_memory_format == "channels_last");
  model_to_device(ctx, model, cfg);  // device: cuda
  nn::ParameterArena arena(model);
  std::unique_ptr<optim::Optimizer> optimizer = optim::make_optimizer(arena, optim_options(cfg));
  const int64_t b = cfg.train_batch_size;
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
    optimizer->step(static_cast<float>(cfg.optim_lr) * 0.01f, static_cast<float>(cfg.optim_momentum));
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
