// BatchLoader with augmentation: the same seed gives the same batches for any worker count and
// OpenMP thread count, epochs differ, drop_last, identity augmentation equals the plain path, mixing
// gives soft targets, and the wait time is counted.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/loader.h"

namespace cvtrain {
namespace {

const Normalization kNorm{{0.5f}, {0.25f}};

std::vector<std::vector<float>> run_epochs(const Dataset& ds, const AugmentOptions& opt, int epochs, int64_t batch = 16) {
  BatchLoader loader(ds, kNorm, batch, /*shuffle=*/true, opt);
  Rng rng(42);
  std::vector<std::vector<float>> out;
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(rng);
    Batch b;
    while (loader.next(b)) {
      const float* x = b.x.data<float>();
      out.emplace_back(x, x + b.x.numel());
      const int64_t* y = b.y.data<int64_t>();
      for (int64_t i = 0; i < b.y.size(0); ++i) out.back().push_back(static_cast<float>(y[i]));
      if (b.y_soft.defined()) out.back().insert(out.back().end(), b.y_soft.data<float>(), b.y_soft.data<float>() + b.y_soft.numel());
    }
  }
  return out;
}

AugmentOptions options(int64_t workers) {
  AugmentOptions o;
  o.augment = {{"crop", 1.0, {{"padding", "4"}, {"padding_mode", "reflect"}}},
               {"hflip", 0.5, {}},
               {"rotate", 0.5, {{"degrees", "20"}}},
               {"erasing", 0.5, {}}};
  o.workers = workers;
  o.seed = 7;
  return o;
}

TEST(LoaderAugment, SameBatchesForAnyWorkerAndThreadCount) {
  const Dataset ds = make_synthetic(100, 1, 28, 28, 3);
  const auto ref = run_epochs(ds, options(0), 2);
  EXPECT_EQ(ref.size(), 14u);  // 7 batches (the last of 4) x 2 epochs
  for (int64_t workers : {1, 3}) EXPECT_EQ(run_epochs(ds, options(workers), 2), ref) << workers << " workers";
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one_thread = run_epochs(ds, options(0), 2);
  omp_set_num_threads(threads);
  EXPECT_EQ(one_thread, ref);
  AugmentOptions other = options(0);
  other.seed = 8;
  EXPECT_NE(run_epochs(ds, other, 1)[0], ref[0]);
}

TEST(LoaderAugment, EpochsDrawDifferentAugmentations) {
  const Dataset ds = make_synthetic(32, 1, 28, 28, 3);
  BatchLoader loader(ds, kNorm, 32, /*shuffle=*/false, options(0));
  Rng rng(1);
  Batch b;
  loader.start_epoch(rng);
  ASSERT_TRUE(loader.next(b));
  const std::vector<float> first(b.x.data<float>(), b.x.data<float>() + b.x.numel());
  loader.start_epoch(rng);
  ASSERT_TRUE(loader.next(b));
  EXPECT_NE(std::vector<float>(b.x.data<float>(), b.x.data<float>() + b.x.numel()), first);
}

TEST(LoaderAugment, IdentityAugmentationMatchesThePlainPath) {
  // crop with no padding at the input size is the identity: same values as the lookup table.
  const Dataset ds = make_synthetic(40, 3, 9, 9, 4);
  const Normalization norm{{0.2f, 0.4f, 0.6f}, {0.3f, 0.2f, 0.1f}};
  BatchLoader plain(ds, norm, 16, false);
  AugmentOptions o;
  o.augment = {{"crop", 1.0, {{"padding", "0"}}}};
  BatchLoader aug(ds, norm, 16, false, o);
  Rng r1(0), r2(0);
  plain.start_epoch(r1);
  aug.start_epoch(r2);
  Batch a, b;
  while (plain.next(a)) {
    ASSERT_TRUE(aug.next(b));
    ASSERT_EQ(a.x.shape(), b.x.shape());
    EXPECT_TRUE(testing::all_close(b.x, a.x, 0, 0));
  }
  EXPECT_FALSE(aug.next(b));
}

TEST(LoaderAugment, DropLastAndOutputShape) {
  const Dataset ds = make_synthetic(50, 1, 28, 28, 3);
  AugmentOptions o = options(2);
  o.augment.push_back({"random_resized_crop", 1.0, {{"size", "20"}}});
  o.drop_last = true;
  BatchLoader loader(ds, kNorm, 16, true, o);
  EXPECT_EQ(loader.num_batches(), 3);
  EXPECT_EQ(loader.image_shape(), Shape({1, 20, 20}));
  Rng rng(0);
  for (int e = 0; e < 2; ++e) {
    loader.start_epoch(rng);
    Batch b;
    int n = 0;
    while (loader.next(b)) {
      EXPECT_EQ(b.x.shape(), Shape({16, 1, 20, 20}));
      ++n;
    }
    EXPECT_EQ(n, 3);
  }
  EXPECT_GE(loader.wait_seconds(), 0.0);
  // The plain path honours drop_last too.
  BatchLoader plain(ds, kNorm, 16, false);
  plain.set_drop_last(true);
  EXPECT_EQ(plain.num_batches(), 3);
  plain.start_epoch(rng);
  Batch b;
  int n = 0;
  while (plain.next(b)) ++n;
  EXPECT_EQ(n, 3);
}

TEST(LoaderAugment, StartingAnEpochEarlyIsSafeWithWorkers) {
  const Dataset ds = make_synthetic(200, 1, 28, 28, 3);
  BatchLoader loader(ds, kNorm, 8, true, options(2));
  Rng rng(0);
  Batch b;
  for (int e = 0; e < 3; ++e) {
    loader.start_epoch(rng);
    ASSERT_TRUE(loader.next(b));  // abandon the epoch after one batch
  }
  const auto a = std::vector<float>(b.x.data<float>(), b.x.data<float>() + b.x.numel());
  BatchLoader inline_loader(ds, kNorm, 8, true, options(0));
  Rng rng2(0);
  for (int e = 0; e < 3; ++e) {
    inline_loader.start_epoch(rng2);
    ASSERT_TRUE(inline_loader.next(b));
  }
  EXPECT_EQ(std::vector<float>(b.x.data<float>(), b.x.data<float>() + b.x.numel()), a);
}

TEST(LoaderAugment, MixupGivesSoftTargets) {
  const Dataset ds = make_synthetic(64, 1, 28, 28, 3);
  AugmentOptions o;
  o.mix.mixup_alpha = 0.4;
  o.mix.cutmix_alpha = 1.0;
  BatchLoader loader(ds, kNorm, 16, true, o);
  Rng rng(0);
  loader.start_epoch(rng);
  Batch b;
  while (loader.next(b)) {
    ASSERT_TRUE(b.y_soft.defined());
    ASSERT_EQ(b.y_soft.shape(), Shape({16, 4}));
    const float* s = b.y_soft.data<float>();
    for (int64_t i = 0; i < 16; ++i) {
      float sum = 0;
      for (int k = 0; k < 4; ++k) sum += s[i * 4 + k];
      EXPECT_NEAR(sum, 1.0f, 1e-5f);
      EXPECT_GT(s[i * 4 + b.y.data<int64_t>()[i]], 0.0f);
    }
  }
}

TEST(LoaderAugment, FittedPreprocessReplacesTheNormalization) {
  const Dataset ds = make_synthetic(40, 1, 8, 8, 2);
  const Preprocess p = fit_preprocess(ds, "pca_whiten", 6, 1e-5);
  BatchLoader loader(ds, kNorm, 16, false);
  loader.set_preprocess(p);
  EXPECT_EQ(loader.image_shape(), Shape({6, 1, 1}));
  Rng rng(0);
  loader.start_epoch(rng);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_EQ(b.x.shape(), Shape({16, 6, 1, 1}));
  std::vector<float> raw(16 * 64), want(16 * 6);
  for (size_t k = 0; k < raw.size(); ++k) raw[k] = static_cast<float>(ds.images.data<uint8_t>()[k]) / 255.0f;
  apply_preprocess(p, raw.data(), 16, want.data());
  EXPECT_EQ(std::vector<float>(b.x.data<float>(), b.x.data<float>() + 96), want);
}

TEST(LoaderAugment, BadSpecIsAnInputError) {
  const Dataset ds = make_synthetic(8, 1, 28, 28, 3);
  AugmentOptions o;
  o.augment = {{"crop", 1.0, {{"size", "-3"}}}};
  EXPECT_THROW(BatchLoader(ds, kNorm, 4, true, o), InputError);
  // A spec that only fails on the images (reflect padding wider than them) fails in next(), from
  // the caller's thread or from a worker, as the same InputError.
  for (int64_t workers : {0, 2}) {
    o.augment = {{"crop", 1.0, {{"padding", "30"}, {"padding_mode", "reflect"}}}};
    o.workers = workers;
    BatchLoader loader(ds, kNorm, 4, true, o);
    Rng rng(0);
    loader.start_epoch(rng);
    Batch b;
    EXPECT_THROW(loader.next(b), InputError) << workers;
  }
}

}  // namespace
}  // namespace cvtrain
