// BatchLoader: gathers a batch of u8 images by index and normalizes them through a per-channel
// lookup table, into buffers reused every step. The table is computed in f32 in torchvision's order
// (ToTensor: v / 255, then Normalize: (x - mean) / std), so batches match PyTorch's bit for bit.
// The augmented path (set_augment) decodes each image to f32, runs the pipeline from the sample's
// own stream, normalizes with the same formula, and optionally mixes the batch; worker threads
// make whole batches ahead of the consumer into a ring of slots.
#include "cvtrain/data/loader.h"

#include <chrono>
#include <exception>
#include <numeric>
#include <utility>

namespace cvtrain {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

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
  C_ = C, in_h_ = out_h_ = images.size(2), in_w_ = out_w_ = images.size(3);
  lut_.resize(static_cast<size_t>(C) * 256);
  for (int64_t c = 0; c < C; ++c) {
    CHECK(norm.std[c] > 0, "BatchLoader: std of channel ", c, " is ", norm.std[c]);
    mean_.push_back(norm.mean[c]);
    inv_std_.push_back(norm.std[c]);  // NOTE: divided by (not multiplied), to match the table exactly
    for (int v = 0; v < 256; ++v)
      lut_[c * 256 + v] = (static_cast<float>(v) / 255.0f - norm.mean[c]) / norm.std[c];
  }
  order_.resize(static_cast<size_t>(size_));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  x_buf_ = Tensor::empty({buffer_rows(), C, images.size(2), images.size(3)}, DType::f32);
  y_buf_ = Tensor::empty({buffer_rows()}, DType::i64);
}

BatchLoader::BatchLoader(const Dataset& data, const Normalization& norm, int64_t batch_size, bool shuffle,
                         const AugmentOptions& options)
    : BatchLoader(data, norm, batch_size, shuffle) {
  set_augment(options);
}

BatchLoader::~BatchLoader() { stop_workers(); }

Shape BatchLoader::image_shape() const {
  if (has_preprocess_) return preprocess_.out_shape();
  return {C_, out_h_, out_w_};
}

void BatchLoader::set_preprocess(const Preprocess& p) {
  if (p.is_channel()) return;
  CHECK(!augmented_ || (out_h_ == p.H && out_w_ == p.W), "BatchLoader: preprocess fitted on ", p.H, "x", p.W,
        " images, the loader makes ", out_h_, "x", out_w_);
  CHECK(p.C == C_, "BatchLoader: preprocess fitted on ", p.C, " channels, the data has ", C_);
  preprocess_ = p;
  has_preprocess_ = true;
  // The batches before the transform are the raw v/255 values.
  for (int64_t c = 0; c < C_; ++c) {
    mean_[c] = 0.0f, inv_std_[c] = 1.0f;
    for (int v = 0; v < 256; ++v) lut_[c * 256 + v] = static_cast<float>(v) / 255.0f;
  }
  Shape s{buffer_rows()};
  for (int64_t d : p.out_shape()) s.push_back(d);
  pre_buf_ = Tensor::empty(s, DType::f32);
}

void BatchLoader::set_augment(const AugmentOptions& options) {
  stop_workers();
  drop_last_ = options.drop_last;
  pipeline_ = AugmentPipeline(options.augment);
  if (pipeline_.needs_color_pca()) pipeline_.set_color_pca(fit_color_pca(data_->images));
  mix_ = options.mix;
  seed_ = options.seed;
  augmented_ = !pipeline_.empty() || mix_.enabled() || options.workers > 0;
  if (!augmented_) return;
  out_h_ = in_h_, out_w_ = in_w_;
  pipeline_.out_size(out_h_, out_w_);
  if (out_h_ < 1 || out_w_ < 1) fail_input("data.augment: the images would be ", out_h_, "x", out_w_);
  const int64_t K = data_->num_classes();
  const size_t S = options.workers > 0 ? static_cast<size_t>(2 * options.workers + 1) : 1;
  slots_.assign(S, Slot{});
  for (Slot& s : slots_) {
    s.x = Tensor::empty({buffer_rows(), C_, out_h_, out_w_}, DType::f32);
    s.y = Tensor::empty({buffer_rows()}, DType::i64);
    if (mix_.enabled()) s.y_soft = Tensor::empty({buffer_rows(), K}, DType::f32);
  }
  stop_ = false;
  epoch_batches_ = 0;
  for (int64_t w = 0; w < options.workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void BatchLoader::drain() {
  std::unique_lock<std::mutex> lk(mu_);
  epoch_batches_ = 0;  // no further claims
  cv_.wait(lk, [&] { return in_flight_ == 0; });
}

void BatchLoader::start_epoch(Rng& rng) {
  if (!workers_.empty()) drain();
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle_)
    for (int64_t i = size_ - 1; i > 0; --i)
      std::swap(order_[i], order_[rng.below(static_cast<uint64_t>(i) + 1)]);
  cursor_ = 0;
  started_ = true;
  ++epoch_;
  if (!augmented_) return;
  std::lock_guard<std::mutex> lk(mu_);
  for (Slot& s : slots_) s.ready = false, s.batch = -1;
  next_batch_ = claim_ = 0;
  error_ = nullptr;
  epoch_batches_ = num_batches();
  cv_.notify_all();
}

void BatchLoader::make_batch(int64_t k, Slot& slot, bool parallel) const {
  const int64_t B = std::min(batch_size_, size_ - k * batch_size_);
  const int64_t CHW_in = C_ * in_h_ * in_w_, HW = out_h_ * out_w_;
  const uint8_t* src = data_->images.data<uint8_t>();     // (N,C,H,W)
  const int64_t* labels = data_->labels.data<int64_t>();  // (N)
  float* x = slot.x.data<float>();                        // (B,C,OH,OW)
  int64_t* y = slot.y.data<int64_t>();                    // (B)
  const int64_t* idx = order_.data() + k * batch_size_;
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 4) if (parallel && B > 1)
  for (int64_t b = 0; b < B; ++b) {
    try {
      y[b] = labels[idx[b]];
      Image img = from_u8(src + idx[b] * CHW_in, C_, in_h_, in_w_);
      SampleRng rng(seed_, static_cast<uint64_t>(epoch_), static_cast<uint64_t>(idx[b]));
      pipeline_.apply(img, rng);
      CHECK(img.C == C_ && img.H == out_h_ && img.W == out_w_, "augmentation produced ", img.C, "x", img.H, "x",
            img.W, ", expected ", C_, "x", out_h_, "x", out_w_);
      for (int64_t c = 0; c < C_; ++c) {
        const float* s = img.plane(c);
        float* d = x + (b * C_ + c) * HW;
        const float m = mean_[c], sd = inv_std_[c];
        for (int64_t i = 0; i < HW; ++i) d[i] = (s[i] - m) / sd;
      }
    } catch (...) {
#pragma omp critical
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  if (mix_.enabled()) {
    SampleRng rng(seed_, static_cast<uint64_t>(epoch_), static_cast<uint64_t>(k), /*domain=*/1);
    mix_batch(mix_, x, y, slot.y_soft.data<float>(), B, C_, out_h_, out_w_, data_->num_classes(), rng);
  }
}

void BatchLoader::worker_loop() {
  const int64_t S = static_cast<int64_t>(slots_.size());
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || (claim_ < epoch_batches_ && claim_ < next_batch_ + S - 1); });
    if (stop_) return;
    const int64_t k = claim_++;
    ++in_flight_;
    Slot& slot = slots_[k % S];
    lk.unlock();
    std::exception_ptr err;
    try {
      make_batch(k, slot, /*parallel=*/false);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    if (err && !error_) error_ = err;
    slot.batch = k;
    slot.ready = true;
    --in_flight_;
    cv_.notify_all();
  }
}

bool BatchLoader::next(Batch& out) {
  if (!next_raw(out)) return false;
  if (has_preprocess_) {
    const int64_t B = out.x.size(0);
    apply_preprocess(preprocess_, out.x.data<float>(), B, pre_buf_.data<float>());
    out.x = B == batch_size_ ? pre_buf_ : pre_buf_.slice(0, 0, B);
  }
  return true;
}

bool BatchLoader::next_raw(Batch& out) {
  CHECK(started_, "BatchLoader::next before start_epoch");
  const auto t0 = Clock::now();
  if (augmented_) {
    if (next_batch_ >= num_batches()) return false;
    const int64_t k = next_batch_;
    const int64_t S = static_cast<int64_t>(slots_.size());
    Slot& slot = slots_[k % S];
    if (workers_.empty()) {
      make_batch(k, slot, /*parallel=*/true);
      ++next_batch_;
    } else {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return error_ || (slot.ready && slot.batch == k); });
      if (error_) std::rethrow_exception(error_);
      slot.ready = false;
      // Taking batch k frees batch k-1's slot (the caller is done with it): workers may now claim
      // up to batch k + S - 1, which reuses that slot. Under the lock: their condition reads it.
      ++next_batch_;
      cv_.notify_all();
    }
    const int64_t B = std::min(batch_size_, size_ - k * batch_size_);
    out.x = B == batch_size_ ? slot.x : slot.x.slice(0, 0, B);
    out.y = B == batch_size_ ? slot.y : slot.y.slice(0, 0, B);
    out.y_soft = !slot.y_soft.defined() ? Tensor() : B == batch_size_ ? slot.y_soft : slot.y_soft.slice(0, 0, B);
    wait_s_ += since(t0);
    return true;
  }
  if (cursor_ >= size_ || (drop_last_ && size_ - cursor_ < batch_size_)) return false;
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
  out.y_soft = Tensor();
  wait_s_ += since(t0);
  return true;
}

}  // namespace cvtrain
