// What a run writes for people to read while and after it trains: metrics.jsonl and metrics.csv
// (a row per epoch), steps.jsonl (a row every train.log_every_steps steps), TensorBoard events
// (scalars per step and epoch, weight and gradient histograms per epoch, images: an augmentation
// preview at step 0 and the first convolution's filters per epoch), and PNG curves drawn with
// viz/plot.h (loss.png, accuracy.png: train against test; lr.png). Also the per-epoch
// metrics themselves and their JSON form, which checkpoints carry. Not the progress bar (cli/).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/data/dataset.h"
#include "cvtrain/data/image_io.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/data/loader.h"
#include "cvtrain/train/options.h"

namespace cvtrain {

class EventWriter;

// A grid of the first 4-D parameter's filters (OC,IC,KH,KW): one tile per output channel, RGB when
// IC is 3, else the mean over input channels in gray, each tile stretched to [0,255] and upscaled.
// C == 0 when the arena has no 4-D parameter.
U8Image first_conv_filters(const nn::ParameterArena& arena, int64_t scale = 4);

struct EpochMetrics {
  int64_t epoch = 0;
  int64_t step = 0;  // optimizer steps taken at the end of the epoch
  double train_loss = 0, train_acc = 0;
  bool evaluated = false;  // false: val_*, test_* (and ema_*) are not measured this epoch (train.eval_every)
  bool has_val = false;    // the run has a validation split: val_* are measured, and choices read them
  double val_loss = 0, val_acc = 0;
  double test_loss = 0, test_acc = 0;  // reported, never chosen on
  bool has_ema = false;  // EMA weights evaluated beside the raw ones (train.ema_decay)
  double ema_val_loss = 0, ema_val_acc = 0;
  double ema_test_loss = 0, ema_test_acc = 0;
  double lr = 0;            // at the end of the epoch
  double images_per_s = 0;  // training images per second of training time (evaluation excluded)
  double seconds = 0;       // wall time of the epoch's training steps
  double data_wait_s = 0;   // of which the loop waited for the loader's next batch
  double comm_wait_s = -1;  // of which it waited for the other ranks' sums (data-parallel; -1: one process)
};

// One optimizer step, as logged every train.log_every_steps steps.
struct StepRecord {
  int64_t step = 0, epoch = 0;
  double loss = 0;       // mean training loss of the step's batches
  double lr = 0;
  double grad_norm = -1;  // global L2 norm before clipping (-1: not measured)
  double images_per_s = 0;
};

std::string metrics_json_line(const EpochMetrics& m);
std::string history_to_json(const std::vector<EpochMetrics>& history);  // a JSON array
std::vector<EpochMetrics> history_from_json(const std::string& text);

class TrainLog {
 public:
  // Opens the files in `dir`. `history` holds the epochs already finished (a resumed run): the
  // epoch files are rewritten with them, and steps.jsonl keeps only its rows up to `step`. The
  // dead run's TensorBoard files lose their events after the checkpoint (the resumed run writes them
  // again), and the resumed run starts a new event file at `step`: each step appears once.
  // `train`: which files (tensorboard, histograms, plots); `loader`: the augmentation the preview shows.
  TrainLog(const std::string& dir, const TrainOptions& train, const AugmentOptions& loader,
           const std::vector<EpochMetrics>& history, int64_t step);
  ~TrainLog();
  void on_step(const StepRecord& r);
  void on_epoch(const EpochMetrics& m, const nn::ParameterArena& arena);
  // TensorBoard image "images/augmentation" at step 0: rows of training images, each the original
  // then `views` augmentations as epochs 0..views-1 draw them. Nothing without data.augment.
  void augmentation_preview(const Dataset& train, int64_t rows = 8, int64_t views = 4);

 private:
  void draw_plots() const;
  std::string dir_;
  TrainOptions train_;
  AugmentOptions loader_;
  std::unique_ptr<EventWriter> tb_;
  std::vector<EpochMetrics> history_;
  std::vector<double> logged_steps_, logged_lr_, logged_loss_;  // for lr.png and loss.png
};

}  // namespace cvtrain
