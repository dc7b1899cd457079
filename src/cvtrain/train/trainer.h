// The training loop: epochs of shuffled mini-batches, cross-entropy (soft targets when the loader
// mixes), any optimizer and schedule of optim/, gradient accumulation, clipping by norm and by value,
// EMA weights evaluated beside the raw ones, evaluation every N epochs, early stopping, the best
// model, checkpoints every N steps and at each epoch's end (keeping the last K), exact resume, and
// the run's logs (metrics_log.h). Not the program's output (cli/cmd_train.cpp prints and saves).
#pragma once
#include <functional>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/loader.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/dist/communicator.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/optim/optimizer.h"
#include "cvtrain/optim/plateau.h"
#include "cvtrain/optim/schedule.h"
#include "cvtrain/train/checkpoint.h"
#include "cvtrain/train/metrics_log.h"
#include "cvtrain/train/progress.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t images = 0;
  double seconds = 0;
};

// After every batch, for the progress display.
struct StepInfo {
  int64_t epoch, step_in_epoch, steps_per_epoch;  // batches
  double loss, lr, images_per_s;
  double accuracy;  // running training accuracy of the epoch so far
  int64_t step = 0;  // optimizer steps taken so far (for train.max_steps runs)
};

struct TrainHooks {
  std::function<void(const StepInfo&)> on_step;       // after every batch (progress display)
  std::function<void(const EpochMetrics&)> on_epoch;  // after each epoch (and its evaluation)
  // At the start of each evaluation pass, with its split ("val", "test"): what reports its progress.
  std::function<PassProgress(const char* split)> eval_progress;
  // Called after every `every_steps`-th optimizer step with the model and its arena (gradients of
  // that step still in it): the place for diagnostics. 0: never.
  int64_t every_steps = 0;
  std::function<void(int64_t step, nn::Module& model, const nn::ParameterArena& arena)> on_every_steps;
  // Asked after every optimizer step (one rank only): true ends the run there, after a checkpoint
  // (FitResult::interrupted), as the program does on SIGINT or SIGTERM.
  std::function<bool()> should_stop;
  // > 0: pause after this epoch, evaluated and checkpointed (FitResult::paused); the schedule, the
  // data order and the choices stay those of the whole run, so resuming continues it unchanged.
  int64_t pause_after_epoch = 0;
};

// Where a run writes. An empty dir: no files at all (tests, benchmarks).
struct RunOutput {
  std::string dir;
  std::map<std::string, std::string> metadata;  // the model file's metadata (config, preprocessing):
                                                // stored in checkpoints and best.safetensors
  const CheckpointContents* resume = nullptr;   // continue from this checkpoint
  const Preprocess* preprocess = nullptr;       // a fitted data.preprocess other than "channel"
  dist::Communicator* comm = nullptr;           // data-parallel ranks (null: one process, no sampler)
};

// How the loop stopped.
struct FitResult {
  std::vector<EpochMetrics> history;
  bool early_stopped = false;
  double best_val_acc = -1;  // the best validation accuracy and its epoch (-1, 0: no validation split)
  int64_t best_epoch = 0;
  bool interrupted = false;     // should_stop ended the run mid-epoch, after writing last_checkpoint
  bool paused = false;          // TrainHooks::pause_after_epoch ended it, after writing last_checkpoint
  std::string last_checkpoint;  // "" when none was written
};

// Mean loss and accuracy of `model` (put in eval mode) over `data`, without recording a graph.
// `preprocess`: a fitted data.preprocess other than "channel" (null: the per-channel normalization).
EvalResult evaluate(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                    int64_t batch_size, const Preprocess* preprocess = nullptr, const PassProgress& progress = {});

// The CPU runtime `cfg` trains and evaluates with: train.precision, train.bf16_activations and
// train.memory_format. Inference sets it too, so `cvtrain eval` of a bf16 run computes as the run's
// own evaluations did and reproduces the accuracy it reported (--set train.precision=fp32: in f32).
void set_cpu_runtime(Context& ctx, const RunConfig& cfg);

// What the run adds to cfg.schedule (its steps, steps per epoch, global batch and the optimizer's
// momentum); the schedule command shares it with the loop. batches_per_epoch: the loader's batches;
// world: data-parallel ranks (the global batch is batch_size x accumulate_steps x world).
int64_t optimizer_steps_per_epoch(const RunConfig& cfg, int64_t batches_per_epoch);
optim::ScheduleRun schedule_run(const RunConfig& cfg, int64_t batches_per_epoch, int64_t world = 1);
// The optimizer steps of the run: train.epochs of them, or train.max_steps when that ends it first;
// and the epochs it will start (the last one may be partial).
int64_t planned_steps(const RunConfig& cfg, int64_t batches_per_epoch);
int64_t planned_steps(const TrainOptions& train, int64_t batches_per_epoch);
int64_t planned_epochs(const RunConfig& cfg, int64_t batches_per_epoch);
// The steps between two steps.jsonl rows: train.log_every_steps when it is >= 0 (0: none); for -1,
// `steps` (the planned optimizer steps) / 100 clamped to [1, 50], about 100 rows whatever the run's length.
int64_t step_log_interval(int64_t log_every_steps, int64_t steps);

// Exponential moving average of a model's state (Polyak & Juditsky 1992; the exponential form of
// TF's ExponentialMovingAverage): s_ema <- d s_ema + (1 - d) s after every optimizer step, over the
// parameters AND the f32 buffers (batch-norm running mean and variance), as timm's ModelEmaV2
// averages the whole state_dict: EMA weights are evaluated with statistics averaged alongside
// them, not with the raw model's. decay 0: off (no values, update and swap do nothing).
class ModelEma {
 public:
  ModelEma(nn::Module& model, const nn::ParameterArena& arena, float decay);  // starts at the model's state
  void update();
  void swap();  // exchanges the EMA state with the model's; a second call restores the model
  // [the arena's floats, then each f32 buffer in named_buffers order]: what checkpoints hold
  std::vector<float>& values() { return values_; }

 private:
  const nn::ParameterArena& arena_;
  std::vector<Tensor*> buffers_;
  float decay_;
  std::vector<float> values_;
};

// What the loop trains with: built from a RunConfig by make_fit_parts, or by a library user who
// brings an optimizer or a schedule of their own.
struct FitParts {
  std::unique_ptr<nn::ParameterArena> arena;    // over the model, once it is on its device and precision
  std::unique_ptr<optim::Optimizer> optimizer;  // over *arena
  optim::Schedule schedule;                     // lr and momentum per optimizer step
  std::optional<optim::Plateau> plateau;        // optim.schedule plateau: scales the lr after evaluations
  AugmentOptions loader;                        // the training loader: augmentation, mixing, workers, seed
  std::vector<std::string> frozen;              // parameter-name prefixes with no gradient (transfer.h)
  // model.freeze_epochs: the freeze lifts when this epoch starts (0: never), and `unfrozen` builds the
  // optimizer without it (the state of `optimizer` carries over).
  int64_t unfreeze_at_epoch = 0;
  std::function<std::unique_ptr<optim::Optimizer>()> unfrozen;
  bool freeze_bn = false;                       // BatchNorm layers kept in evaluation mode (transfer.h)
  std::function<bool(int64_t epoch)> cycle_end;  // epochs that end a schedule cycle (train.snapshots)
};

// The parts `cfg` describes, for `model` (prepared for train.precision, train.memory_format and the
// device) and the training set; `comm`: data-parallel ranks or null.
FitParts make_fit_parts(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train,
                        dist::Communicator* comm = nullptr);

// Trains `model` in place with `parts` as `opt` says. Every evaluation measures `val` (when given) and
// `test`; the choices (best.safetensors, early stopping) read `val` alone, and a run without one makes
// none (train.early_stop_patience is then an InputError): the test split is reported, never chosen on.
FitResult fit(Context& ctx, nn::Module& model, const TrainOptions& opt, FitParts& parts, const Dataset& train,
              const Dataset* val, const Dataset& test, const Normalization& norm, const TrainHooks& hooks,
              const RunOutput& out = {});
// The same with the parts `cfg` describes.
FitResult fit(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train, const Dataset* val,
              const Dataset& test, const Normalization& norm, const TrainHooks& hooks, const RunOutput& out = {});

// One training step's throughput without data loading or evaluation: `steps` steps on a fixed
// random batch after `warmup` steps. Returns images per second; `allocations`, when given, receives
// the system allocations of the timed steps (misses of ctx.storage's cache; 0 in the steady state).
double measure_train_throughput(Context& ctx, nn::Module& model, const RunConfig& cfg, const Shape& image_shape,
                                int64_t num_classes, int64_t warmup, int64_t steps, int64_t* allocations = nullptr);

}  // namespace cvtrain
