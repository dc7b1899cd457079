// The training loop of the foundation: epochs of shuffled mini-batches, cross-entropy, SGD with a
// schedule, evaluation on the test set after each epoch, metrics per epoch. Not yet: checkpoints
// and resume, clipping, EMA, early stopping (the trainer issue).
#pragma once
#include <functional>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t images = 0;
  double seconds = 0;
};

struct EpochMetrics {
  int64_t epoch = 0;
  double train_loss = 0, train_acc = 0;
  double test_loss = 0, test_acc = 0;
  double lr = 0;            // at the end of the epoch
  double images_per_s = 0;  // training images per second of training time (evaluation excluded)
  double seconds = 0;       // wall time of the epoch's training steps
};

struct StepInfo {
  int64_t epoch, step_in_epoch, steps_per_epoch;
  double loss, lr, images_per_s;
};

struct TrainHooks {
  std::function<void(const StepInfo&)> on_step;          // after every step (progress display)
  std::function<void(const EpochMetrics&)> on_epoch;     // after each epoch's evaluation
};

// Mean loss and accuracy of `model` (put in eval mode) over `data`, without recording a graph.
EvalResult evaluate(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                    int64_t batch_size);

// Trains `model` in place as `cfg` says; returns the metrics of every epoch.
std::vector<EpochMetrics> fit(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train,
                              const Dataset& test, const Normalization& norm, const TrainHooks& hooks);

// One training step's throughput without data loading or evaluation: `steps` steps on a fixed
// random batch after `warmup` steps. Returns images per second.
double measure_train_throughput(Context& ctx, nn::Module& model, const RunConfig& cfg, const Shape& image_shape,
                                int64_t num_classes, int64_t warmup, int64_t steps);

}  // namespace cvtrain
