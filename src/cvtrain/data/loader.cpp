// BatchLoader: gathers a batch of u8 images by index and normalizes them through a per-channel
// lookup table, into buffers reused every step. The table is computed in f32 in torchvision's order
// (ToTensor: v / 255, then Normalize: (x - mean) / std), so batches match PyTorch's bit for bit.
#include "cvtrain/data/loader.h"

#include <numeric>
#include <utility>

namespace cvtrain {

BatchLoader::BatchLoader(const Dataset& data, const Normalization& norm, int64_t batch_size, bool shuffle)
    : data_(&data), size_(data.size()), batch_size_(batch_size), shuffle_(shuffle) {
  const Tensor& images = data.images;
  CHECK(batch_size > 0, "BatchLoader: batch_size ", batch_size, " must be positive");
  CHECK(images.defined() && images.dim() == 4 && images.dtype() == DType::u8 && images.is_contiguous(),
        "BatchLoader: images must be contiguous (N,C,H,W) u8, got ",
        images.defined() ? images.describe() : std::string("undefined"));
  CHECK(data.labels.defined() && data.labels.dtype() == DType::i64 && data.labels.dim() == 1 &&
            data.labels.size(0) == images.size(0) && data.labels.is_contiguous(),
        "BatchLoader: labels ", data.labels.defined() ? data.labels.describe() : std::string("undefined"),
        " for images ", images.describe());
  const int64_t C = images.size(1);
  CHECK(static_cast<int64_t>(norm.mean.size()) == C && static_cast<int64_t>(norm.std.size()) == C,
        "BatchLoader: normalization has ", norm.mean.size(), " means and ", norm.std.size(), " stds for ", C,
        " channels");
  lut_.resize(static_cast<size_t>(C) * 256);
  for (int64_t c = 0; c < C; ++c) {
    CHECK(norm.std[c] > 0, "BatchLoader: std of channel ", c, " is ", norm.std[c]);
    for (int v = 0; v < 256; ++v)
      lut_[c * 256 + v] = (static_cast<float>(v) / 255.0f - norm.mean[c]) / norm.std[c];
  }
  order_.resize(static_cast<size_t>(size_));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  x_buf_ = Tensor::empty({batch_size, C, images.size(2), images.size(3)}, DType::f32);
  y_buf_ = Tensor::empty({batch_size}, DType::i64);
}

void BatchLoader::start_epoch(Rng& rng) {
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle_)
    for (int64_t i = size_ - 1; i > 0; --i)
      std::swap(order_[i], order_[rng.below(static_cast<uint64_t>(i) + 1)]);
  cursor_ = 0;
  started_ = true;
}

bool BatchLoader::next(Batch& out) {
  CHECK(started_, "BatchLoader::next before start_epoch");
  if (cursor_ >= size_) return false;
  const int64_t B = std::min(batch_size_, size_ - cursor_);
  const Tensor& images = data_->images;
  const int64_t C = images.size(1), HW = images.size(2) * images.size(3);
  const uint8_t* src = images.data<uint8_t>();        // (N,C,H,W)
  const int64_t* labels = data_->labels.data<int64_t>();  // (N)
  float* x = x_buf_.data<float>();                    // (B,C,H,W)
  int64_t* y = y_buf_.data<int64_t>();                // (B)
  const int64_t* idx = order_.data() + cursor_;
  const float* lut = lut_.data();
  // Small batches stay on one thread: a parallel region costs more than converting them.
#pragma omp parallel for if (B * C * HW >= (int64_t{1} << 15))
  for (int64_t b = 0; b < B; ++b) {
    y[b] = labels[idx[b]];
    for (int64_t c = 0; c < C; ++c) {
      const uint8_t* s = src + (idx[b] * C + c) * HW;
      float* d = x + (b * C + c) * HW;
      const float* t = lut + c * 256;
      for (int64_t k = 0; k < HW; ++k) d[k] = t[s[k]];
    }
  }
  cursor_ += B;
  if (B == batch_size_) {
    out.x = x_buf_;
    out.y = y_buf_;
  } else {
    out.x = x_buf_.slice(0, 0, B);
    out.y = y_buf_.slice(0, 0, B);
  }
  return true;
}

}  // namespace cvtrain
