// BatchLoader: each example once per epoch, deterministic shuffles, the normalization formula,
// and buffer reuse (no allocation after the first batch).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "common/testing.h"
#include "cvtrain/data/loader.h"

using namespace cvtrain;

namespace {

// n images (C,2,3) whose pixels are (i * 7 + c * 3 + k) % 256, labels i (one class per example).
Dataset indexed_dataset(int64_t n, int64_t C = 1) {
  Dataset ds;
  ds.name = "indexed";
  ds.images = Tensor::empty({n, C, 2, 3}, DType::u8);
  ds.labels = Tensor::empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.data<int64_t>()[i] = i;
    ds.class_names.push_back(std::to_string(i));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < 6; ++k)
        ds.images.data<uint8_t>()[(i * C + c) * 6 + k] = static_cast<uint8_t>((i * 7 + c * 3 + k) % 256);
  }
  return ds;
}

const Normalization kNorm{{0.25f}, {0.5f}};

// The labels (= dataset indices) of one epoch, batch by batch.
std::vector<std::vector<int64_t>> epoch_labels(BatchLoader& loader, Rng& rng) {
  loader.start_epoch(rng);
  std::vector<std::vector<int64_t>> out;
  Batch b;
  while (loader.next(b)) {
    const int64_t* y = b.y.data<int64_t>();
    out.emplace_back(y, y + b.y.size(0));
  }
  return out;
}

std::vector<int64_t> flatten(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace

TEST(BatchLoader, InOrderCoversEveryExampleWithAPartialLastBatch) {
  Dataset ds = indexed_dataset(10);
  BatchLoader loader(ds, kNorm, 3, /*shuffle=*/false);
  EXPECT_EQ(loader.num_batches(), 4);
  Rng rng(1);
  const Rng::State before = rng.state();
  auto batches = epoch_labels(loader, rng);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[3], (std::vector<int64_t>{9}));
  std::vector<int64_t> expected(10);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(flatten(batches), expected);
  EXPECT_EQ(rng.state().seq, before.seq) << "an unshuffled epoch must not draw from the rng";
}

TEST(BatchLoader, ShuffledEpochsArePermutationsDeterministicInTheSeed) {
  Dataset ds = indexed_dataset(50);
  BatchLoader a(ds, kNorm, 8, true), b(ds, kNorm, 8, true);
  Rng rng_a(42), rng_b(42), rng_c(43);
  const auto a1 = flatten(epoch_labels(a, rng_a)), a2 = flatten(epoch_labels(a, rng_a));
  const auto b1 = flatten(epoch_labels(b, rng_b)), b2 = flatten(epoch_labels(b, rng_b));
  const auto c1 = flatten(epoch_labels(b, rng_c));
  for (const auto* order : {&a1, &a2, &c1}) {
    ASSERT_EQ(order->size(), 50u);
    EXPECT_EQ(std::set<int64_t>(order->begin(), order->end()).size(), 50u) << "each index exactly once";
  }
  EXPECT_EQ(a1, b1) << "same seed, same order";
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, a2) << "a new epoch gets a new order";
  EXPECT_NE(a1, c1) << "another seed, another order";
  std::vector<int64_t> identity(50);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(a1, identity);
  EXPECT_EQ(a.order(), a2);
}

TEST(BatchLoader, OrderDependsOnlyOnTheRngStateAtEpochStart) {
  // What resuming from a checkpoint relies on: restoring the rng state reproduces the epoch.
  Dataset ds = indexed_dataset(20);
  BatchLoader loader(ds, kNorm, 6, true);
  Rng rng(7);
  epoch_labels(loader, rng);
  const Rng::State saved = rng.state();
  const auto second = flatten(epoch_labels(loader, rng));
  Rng resumed(0);
  resumed.set_state(saved);
  BatchLoader fresh(ds, kNorm, 6, true);
  EXPECT_EQ(flatten(epoch_labels(fresh, resumed)), second);
}

TEST(BatchLoader, AppliesThePerChannelNormalization) {
  Dataset ds = indexed_dataset(9, /*C=*/3);
  const Normalization norm{{0.1f, 0.5f, 0.9f}, {0.2f, 0.3f, 0.05f}};
  BatchLoader loader(ds, norm, 4, true);
  Rng rng(3);
  loader.start_epoch(rng);
  Batch b;
  int64_t seen = 0;
  while (loader.next(b)) {
    const int64_t B = b.x.size(0);
    ASSERT_EQ(b.x.shape(), (Shape{B, 3, 2, 3}));
    ASSERT_EQ(b.x.dtype(), DType::f32);
    for (int64_t j = 0; j < B; ++j) {
      const int64_t i = b.y.data<int64_t>()[j];
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t k = 0; k < 6; ++k) {
          const float v = ds.images.data<uint8_t>()[(i * 3 + c) * 6 + k];
          // torchvision: ToTensor (v / 255) then Normalize ((x - mean) / std), in f32.
          const float expected = (v / 255.0f - norm.mean[c]) / norm.std[c];
          EXPECT_EQ(b.x.data<float>()[(j * 3 + c) * 6 + k], expected) << "example " << i << " channel " << c;
        }
    }
    seen += B;
  }
  EXPECT_EQ(seen, 9);
}

TEST(BatchLoader, FullSizeBatchesConvertInParallelToTheSameValues) {
  // 128 x 784 pixels: large enough for the OpenMP path.
  Dataset ds = make_synthetic(300, 1, 28, 28, 4);
  const Normalization norm = fit_normalization(ds);
  BatchLoader loader(ds, norm, 128, true);
  Rng rng(5);
  loader.start_epoch(rng);
  Batch b;
  int64_t start = 0;
  while (loader.next(b)) {
    const int64_t B = b.x.size(0);
    for (int64_t j = 0; j < B; ++j) {
      const int64_t i = loader.order()[start + j];
      ASSERT_EQ(b.y.data<int64_t>()[j], ds.labels.data<int64_t>()[i]);
      for (int64_t k = 0; k < 784; ++k) {
        const float v = ds.images.data<uint8_t>()[i * 784 + k];
        ASSERT_EQ(b.x.data<float>()[j * 784 + k], (v / 255.0f - norm.mean[0]) / norm.std[0]) << i << " " << k;
      }
    }
    start += B;
  }
  EXPECT_EQ(start, 300);
}

TEST(BatchLoader, ReusesItsBuffersAcrossSteps) {
  Dataset ds = indexed_dataset(10);
  BatchLoader loader(ds, kNorm, 4, true);
  Rng rng(1);
  const void* storage = nullptr;
  for (int epoch = 0; epoch < 2; ++epoch) {
    loader.start_epoch(rng);
    Batch b;
    while (loader.next(b)) {
      if (!storage) storage = b.x.storage().get();
      EXPECT_EQ(b.x.storage().get(), storage) << "batch of " << b.x.size(0);
      EXPECT_TRUE(b.x.is_contiguous());
      EXPECT_TRUE(b.y.is_contiguous());
    }
  }
}

TEST(BatchLoader, MisuseIsAnError) {
  Dataset ds = indexed_dataset(4);
  BatchLoader loader(ds, kNorm, 2, false);
  Batch b;
  EXPECT_THROW(loader.next(b), Error);
  EXPECT_THROW(BatchLoader(ds, kNorm, 0, false), Error);
  EXPECT_THROW(BatchLoader(ds, Normalization{{0.5f, 0.5f}, {1.f, 1.f}}, 2, false), Error);
  EXPECT_THROW(BatchLoader(ds, Normalization{{0.5f}, {0.f}}, 2, false), Error);
}

TEST(BatchLoader, EmptyDatasetHasNoBatches) {
  Dataset ds = indexed_dataset(0);
  BatchLoader loader(ds, kNorm, 2, true);
  EXPECT_EQ(loader.num_batches(), 0);
  Rng rng(1);
  loader.start_epoch(rng);
  Batch b;
  EXPECT_FALSE(loader.next(b));
}
