// Batches of a Dataset as normalized f32 tensors, in order or shuffled per epoch (Fisher-Yates).
// Single-threaded producer: the batch is converted on the caller's thread (OpenMP over the batch),
// no prefetching. Not an augmentation pipeline.
#pragma once
#include <cstdint>
#include <vector>

#include "cvtrain/data/dataset.h"
#include "cvtrain/tensor/rng.h"

namespace cvtrain {

struct Batch {
  Tensor x;  // (B,C,H,W) f32, (v/255 - mean[c]) / std[c]
  Tensor y;  // (B) i64
};

class BatchLoader {
 public:
  // Keeps a reference to `data`, which must outlive the loader. The last batch of an epoch may be
  // smaller than batch_size.
  BatchLoader(const Dataset& data, const Normalization& norm, int64_t batch_size, bool shuffle);

  // Begins an epoch: the order is the identity, permuted with rng.below() when shuffling, so it
  // depends only on the rng state here (a resumed run gets the same order). Call before each epoch.
  void start_epoch(Rng& rng);

  // Fills `out` with the next batch; false at the end of the epoch.
  // NOTE: out.x and out.y are views of buffers owned by the loader and overwritten by the next
  // call (no allocation in the steady state). Clone them to keep them across next().
  bool next(Batch& out);

  int64_t num_batches() const { return (size_ + batch_size_ - 1) / batch_size_; }
  int64_t batch_size() const { return batch_size_; }
  int64_t size() const { return size_; }
  // The example order of the current epoch (dataset indices).
  const std::vector<int64_t>& order() const { return order_; }

 private:
  const Dataset* data_;
  int64_t size_, batch_size_;
  bool shuffle_;
  std::vector<float> lut_;  // (C,256): the normalized value of each byte value, per channel
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
  bool started_ = false;
  Tensor x_buf_;  // (batch_size,C,H,W) f32
  Tensor y_buf_;  // (batch_size) i64
};

}  // namespace cvtrain
