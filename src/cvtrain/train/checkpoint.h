// Training checkpoints: one safetensors file with the model's state_dict (parameters and buffers),
// the optimizer's state buffers, the EMA weights, and in its metadata the loop's position (epoch,
// batches consumed, optimizer step), both RNG states, running metrics, the resolved config, the
// preprocessing, and a CRC32C checksum of everything, verified on load. Written atomically.
// Not the model file users share (model_file.h); not the training loop.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cvtrain/nn/module.h"
#include "cvtrain/optim/optimizer.h"
#include "cvtrain/tensor/rng.h"

namespace cvtrain {

// CRC-32C (Castagnoli), the checksum of checkpoints and of TensorBoard records. Continue a running
// checksum by passing the previous value as `crc`.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

// Where the loop stands, everything but tensors.
struct TrainState {
  int64_t epoch = 1;         // the epoch in progress, from 1
  int64_t batches_done = 0;  // batches of `epoch` already consumed (the loader's position)
  int64_t images_done = 0;   // examples of `epoch` consumed over all ranks (a data-parallel run's position)
  int64_t world = 0;         // ranks of the data-parallel run that wrote it (0: one process, no sampler)
  int64_t step = 0;          // optimizer steps taken (the schedule's position)
  Rng::State rng_epoch_start{};  // before loader.start_epoch of `epoch`: regenerates the shuffle
  Rng::State rng_now{};          // now (dropout and other draws continue from here)
  double loss_sum = 0;           // the epoch's running training loss (x images), correct count, images
  int64_t correct = 0, seen = 0;
  int64_t nonfinite_skipped = 0;
  double best_acc = -1;  // best validation accuracy so far and the epoch it was seen in
  int64_t best_epoch = 0;
  int64_t evals_since_best = 0;
  double plateau_best = 0;  // optim.schedule plateau's state (optim/plateau.h); plateau_lr 0: none
  int64_t plateau_bad = 0;
  double plateau_lr = 0;
  std::string history_json = "[]";  // the finished epochs' metrics, a JSON array
};

struct CheckpointContents {
  TrainState state;
  nn::StateDict model;  // name -> tensor (copies)
  std::map<std::string, std::vector<float>> optim_buffers;
  std::map<std::string, int64_t> optim_counters;
  std::vector<float> ema;  // empty when EMA is off
  std::map<std::string, std::string> metadata;  // config.yaml, preprocessing, ...
};

// Writes `path` atomically (temporary file, fsync, rename): a crash leaves the previous file.
void write_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& optimizer,
                      const std::vector<float>& ema, const TrainState& state,
                      const std::map<std::string, std::string>& metadata);

// Reads and verifies (checksum, format version); InputError naming the file when it is damaged.
CheckpointContents read_checkpoint(const std::string& path);

// Puts the checkpoint's tensors back: model weights and buffers (strict), optimizer state, EMA.
void restore_checkpoint(const CheckpointContents& ck, nn::Module& model, optim::Optimizer& optimizer,
                        std::vector<float>& ema);

// RUN_DIR/checkpoints/step-00001234.safetensors
std::string checkpoint_path(const std::string& run_dir, int64_t step);
// The checkpoints of a run, oldest first (by step).
std::vector<std::string> list_checkpoints(const std::string& run_dir);
// The newest checkpoint that reads back and verifies ("" when none); damaged newer ones are named
// on stderr and skipped.
std::string latest_good_checkpoint(const std::string& run_dir);
// Deletes all but the newest `keep` checkpoints, and the temporaries of killed writes in the run
// folder, checkpoints/ and snapshots/ (remove_killed_writes, base/files.h).
void prune_checkpoints(const std::string& run_dir, int64_t keep);

}  // namespace cvtrain
