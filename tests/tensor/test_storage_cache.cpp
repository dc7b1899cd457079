// StorageCache: size classes, reuse of freed blocks, the byte limit, the per-thread active cache and
// its scopes, and the point of it all: a training step in its steady state allocates nothing.
#include <thread>

#include "common/testing.h"
#include "cvtrain/autograd/context.h"
#include "cvtrain/ops/conv.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/norm.h"
#include "cvtrain/ops/reduce.h"
#include "cvtrain/tensor/storage.h"
#include "cvtrain/tensor/tensor.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(StorageCache, SizeClassesBoundTheWaste) {
  for (size_t n : {size_t(1), size_t(63), size_t(64), size_t(65), size_t(4096), size_t(4097), size_t(100000),
                   size_t(401408), size_t(3) << 20, (size_t(1) << 30) + 1}) {
    const size_t c = StorageCache::size_class(n);
    EXPECT_GE(c, n) << n;
    EXPECT_EQ(c % 64, 0u) << n;
    EXPECT_LE(c, n + n / 8 + 64) << n;
    EXPECT_EQ(StorageCache::size_class(c), c) << n;  // a class is its own class
  }
  EXPECT_EQ(StorageCache::size_class(0), 0u);
}

TEST(StorageCache, FreedBlockIsReusedForTheSameClass) {
  auto cache = std::make_shared<StorageCache>();
  void* first = nullptr;
  {
    auto s = Storage::allocate(100000, Device::cpu, cache);
    first = s->data();
    EXPECT_EQ(s->nbytes(), 100000u);
  }
  EXPECT_EQ(cache->stats().misses, 1);
  EXPECT_EQ(cache->stats().cached_bytes, StorageCache::size_class(100000));
  auto again = Storage::allocate(99000, Device::cpu, cache);  // same class
  EXPECT_EQ(again->data(), first);
  EXPECT_EQ(cache->stats().hits, 1);
  EXPECT_EQ(cache->stats().cached_bytes, 0u);
  auto other = Storage::allocate(300000, Device::cpu, cache);  // another class: from the system
  EXPECT_NE(other->data(), first);
  EXPECT_EQ(cache->stats().misses, 2);
}

TEST(StorageCache, LimitAndReleaseFreeBlocks) {
  auto cache = std::make_shared<StorageCache>(8192);
  { auto a = Storage::allocate(8192, Device::cpu, cache); }
  EXPECT_EQ(cache->stats().cached_bytes, 8192u);
  { auto b = Storage::allocate(9000, Device::cpu, cache); }  // would pass the limit: freed
  EXPECT_EQ(cache->stats().cached_bytes, 8192u);
  cache->release();
  EXPECT_EQ(cache->stats().cached_bytes, 0u);
}

TEST(StorageCache, StorageOutlivesItsScope) {
  std::shared_ptr<Storage> kept;
  {
    StorageCacheScope scope;
    kept = Storage::allocate(5000);
    EXPECT_EQ(scope.cache().stats().misses, 1);
  }
  EXPECT_EQ(StorageCacheScope::active(), nullptr);
  static_cast<char*>(kept->data())[4999] = 1;  // still valid; freed with its cache later
  kept.reset();
}

TEST(StorageCache, ScopesNestPerThread) {
  EXPECT_EQ(StorageCacheScope::active(), nullptr);
  StorageCacheScope outer;
  EXPECT_EQ(StorageCacheScope::active(), outer.shared());
  {
    StorageCacheScope inner;
    EXPECT_EQ(StorageCacheScope::active(), inner.shared());
    std::thread([] { EXPECT_EQ(StorageCacheScope::active(), nullptr); }).join();
  }
  EXPECT_EQ(StorageCacheScope::active(), outer.shared());
}

TEST(StorageCache, ContextActivatesItsCache) {
  Context ctx(1);
  EXPECT_EQ(StorageCacheScope::active(), ctx.storage.shared());
  Tensor t = Tensor::empty({1000});
  EXPECT_EQ(t.storage().use_count(), 1);
  EXPECT_EQ(ctx.storage.cache().stats().misses, 1);
}

// conv -> batch norm -> relu -> mean, backward, three times: the third step allocates nothing.
TEST(StorageCache, TrainingStepSteadyStateAllocatesNothing) {
  Context ctx(3);
  Variable x(random_tensor({8, 3, 12, 12}, 1), false);
  Variable w(random_tensor({16, 3, 3, 3}, 2), true);
  Variable gamma(Tensor::full({16}, 1.0f), true), beta(Tensor::zeros({16}), true);
  Tensor rm = Tensor::zeros({16}), rv = Tensor::full({16}, 1.0f);
  ops::Conv2dOptions copt;
  copt.pad_h = copt.pad_w = 1;
  auto step = [&] {
    Variable y = ops::conv2d(ctx, x, w, Variable(), copt);
    y = ops::relu(ctx, ops::batch_norm(ctx, y, gamma, beta, rm, rv, {}));
    ops::mean(ctx, y).backward();
    for (Variable* p : {&w, &gamma, &beta}) p->set_grad(Tensor());
  };
  step();
  step();
  const auto before = ctx.storage.cache().stats();
  step();
  const auto after = ctx.storage.cache().stats();
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_GT(after.hits, before.hits);
}
