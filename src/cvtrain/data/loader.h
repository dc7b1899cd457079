// Batches of a Dataset as normalized f32 tensors, in order or shuffled per epoch (Fisher-Yates).
// Without augmentation a batch is converted on the caller's thread through a lookup table (OpenMP
// over the batch). With augmentation (set_augment), each sample is augmented from its own Philox
// stream (seed, epoch, index), optionally by worker threads that prefetch whole batches: the same
// seed gives the same batches for any worker count. Not the transforms themselves (augment.h).
#pragma once
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cvtrain/data/augment.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/tensor/rng.h"

namespace cvtrain {

struct Batch {
  Tensor x;       // (B,C,H,W) f32, (v/255 - mean[c]) / std[c]
  Tensor y;       // (B) i64
  Tensor y_soft;  // (B,K) f32 soft targets when mixup/CutMix is on; undefined otherwise
};

// Everything the training loop's loader needs from the config, in one aggregate so the trainer
// sets it in one line: {cfg.data.augment, cfg.data.workers, cfg.data.drop_last,
// {cfg.data.mixup_alpha, cfg.data.cutmix_alpha}, uint64_t(cfg.seed)}.
struct AugmentOptions {
  std::vector<AugmentSpec> augment;  // data.augment
  int64_t workers = 0;               // data.workers: 0 = produce on the caller's thread
  bool drop_last = false;            // data.drop_last
  MixSpec mix;                       // data.mixup_alpha, data.cutmix_alpha
  uint64_t seed = 0;                 // seed of every per-sample stream
};

class BatchLoader {
 public:
  // Keeps a reference to `data`, which must outlive the loader. The last batch of an epoch may be
  // smaller than batch_size (unless drop_last).
  BatchLoader(const Dataset& data, const Normalization& norm, int64_t batch_size, bool shuffle);
  BatchLoader(const Dataset& data, const Normalization& norm, int64_t batch_size, bool shuffle,
              const AugmentOptions& options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Turns on augmentation / mixing / workers / drop_last (validates the specs: InputError naming
  // data.augment[i].param). Fits PCA color statistics on `data` when pca_noise is listed. Call
  // before start_epoch.
  void set_augment(const AugmentOptions& options);
  void set_drop_last(bool drop_last) { drop_last_ = drop_last; }
  // A fitted mean_image / pca / pca_whiten / zca transform (preprocess.h) replaces the per-channel
  // normalization: batches become apply_preprocess(v/255), of shape (B, p.out_shape()). A
  // "channel" preprocess is ignored (the constructor's Normalization applies). Call before next().
  void set_preprocess(const Preprocess& p);

  // Begins an epoch: the order is the identity, permuted with rng.below() when shuffling, so it
  // depends only on the rng state here (a resumed run gets the same order). Call before each epoch.
  // Epochs are counted from 0 by these calls (set_epoch overrides, for a resumed run); the count
  // keys the per-sample augmentation streams.
  void start_epoch(Rng& rng);
  void set_epoch(int64_t epoch) { epoch_ = epoch - 1; }

  // Fills `out` with the next batch; false at the end of the epoch.
  // NOTE: out.x and out.y are views of buffers owned by the loader and overwritten by the next
  // call (no allocation in the steady state). Clone them to keep them across next().
  bool next(Batch& out);

  int64_t num_batches() const { return drop_last_ ? size_ / batch_size_ : (size_ + batch_size_ - 1) / batch_size_; }
  int64_t batch_size() const { return batch_size_; }
  // Rows of the batch buffers: no batch is larger than the dataset, whatever batch_size says.
  int64_t buffer_rows() const { return std::min(batch_size_, std::max<int64_t>(size_, 1)); }
  int64_t size() const { return size_; }
  // The example order of the current epoch (dataset indices).
  const std::vector<int64_t>& order() const { return order_; }
  // The (C,H,W) of the batches' images (augmentation may crop or resize).
  Shape image_shape() const;
  // Seconds next() spent waiting for a batch since construction / reset_wait(): the time the
  // consumer was held up by data (with workers=0, all of the batch preparation).
  double wait_seconds() const { return wait_s_; }
  void reset_wait() { wait_s_ = 0; }

 private:
  struct Slot {
    Tensor x, y, y_soft;
    int64_t batch = -1;
    bool ready = false;
  };
  bool next_raw(Batch& out);  // next() before the fitted preprocess
  void make_batch(int64_t k, Slot& slot, bool parallel) const;  // batch k of the epoch into slot
  void worker_loop();
  void stop_workers();
  void drain();  // waits until no worker holds a batch of the current epoch

  const Dataset* data_;
  int64_t size_, batch_size_;
  bool shuffle_;
  bool drop_last_ = false;
  int64_t C_, in_h_, in_w_, out_h_, out_w_;
  std::vector<float> lut_;  // (C,256): the normalized value of each byte value, per channel
  std::vector<float> mean_, inv_std_;
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
  bool started_ = false;
  Tensor x_buf_;  // (batch_size,C,H,W) f32
  Tensor y_buf_;  // (batch_size) i64
  Preprocess preprocess_;
  bool has_preprocess_ = false;
  Tensor pre_buf_;  // (batch_size, out_shape) f32 when has_preprocess_

  // Augmented path.
  bool augmented_ = false;
  AugmentPipeline pipeline_;
  MixSpec mix_;
  uint64_t seed_ = 0;
  int64_t epoch_ = -1;
  std::vector<Slot> slots_;
  int64_t next_batch_ = 0;  // batches handed out (the consumer's position)
  double wait_s_ = 0;

  // Workers: batch k goes to slot k % slots_.size(); a worker claims the next batch once its slot
  // is free (the consumer has moved past batch k - slots).
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t claim_ = 0;      // next batch to claim
  int64_t in_flight_ = 0;  // batches being made
  int64_t epoch_batches_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;  // the first failure of a worker, rethrown by next()
};

}  // namespace cvtrain
