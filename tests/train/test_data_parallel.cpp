// The distributed sampler (dist/sampler.h): the ranks' shards of an epoch are disjoint, cover it,
// and put together batch by batch give the global batches of one process with the global batch
// size; the order depends on (seed, epoch) only; a resumed epoch skips what was consumed; the last
// batch is split evenly. And the data-parallel loop with a one-rank communicator trains and records
// its world in checkpoints. (Several ranks: tests/cli/mpi_data_parallel.sh, under mpirun.)
#include <algorithm>
#include <filesystem>
#include <numeric>

#include "common/testing.h"
#include "cvtrain/dist/communicator.h"
#include "cvtrain/dist/sampler.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/trainer.h"

using namespace cvtrain;
namespace fs = std::filesystem;

TEST(DataParallel, ShardsCoverTheEpochInGlobalBatchOrder) {
  const int64_t n = 1000, local = 64;
  for (int world : {1, 2, 3}) {
    const std::vector<int64_t> order = dist::epoch_order(n, 5, 2);
    std::vector<dist::Shard> shards;
    for (int r = 0; r < world; ++r) shards.push_back(dist::shard_epoch(n, 5, 2, 0, r, world, local, false));
    const size_t batches = shards[0].global_sizes.size();
    EXPECT_EQ(static_cast<int64_t>(batches), dist::global_batches(n, local * world, false));
    // global batch k = rank 0's k-th local batch, then rank 1's, ...: the one-process order
    std::vector<int64_t> joined;
    std::vector<size_t> at(static_cast<size_t>(world), 0);
    for (size_t k = 0; k < batches; ++k)
      for (int r = 0; r < world; ++r) {
        const dist::Shard& s = shards[static_cast<size_t>(r)];
        ASSERT_EQ(s.global_sizes.size(), batches);  // every rank takes part in every step
        const int64_t m = s.local_sizes[k];
        joined.insert(joined.end(), s.indices.begin() + static_cast<int64_t>(at[static_cast<size_t>(r)]),
                      s.indices.begin() + static_cast<int64_t>(at[static_cast<size_t>(r)]) + m);
        at[static_cast<size_t>(r)] += static_cast<size_t>(m);
      }
    EXPECT_EQ(joined, order) << world << " ranks";
  }
  // the last global batch of 1000 - 7 * 128 = 104 is split 52 / 52; of 1000 - 5 * 192 = 40 over 3: 14 13 13
  EXPECT_EQ(dist::shard_epoch(n, 5, 2, 0, 1, 2, local, false).local_sizes.back(), 52);
  EXPECT_EQ(dist::shard_epoch(n, 5, 2, 0, 0, 3, local, false).local_sizes.back(), 14);
  EXPECT_EQ(dist::shard_epoch(n, 5, 2, 0, 2, 3, local, false).local_sizes.back(), 13);
  EXPECT_EQ(dist::shard_epoch(n, 5, 2, 0, 0, 2, local, true).global_sizes.size(), 7u);  // drop_last
}

TEST(DataParallel, OrderDependsOnSeedAndEpochOnly) {
  const auto a = dist::epoch_order(500, 1, 0);
  EXPECT_EQ(a, dist::epoch_order(500, 1, 0));
  EXPECT_NE(a, dist::epoch_order(500, 1, 1));
  EXPECT_NE(a, dist::epoch_order(500, 2, 0));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(500);
  std::iota(iota.begin(), iota.end(), int64_t{0});
  EXPECT_EQ(sorted, iota);
}

TEST(DataParallel, ResumedEpochSkipsWhatWasConsumed) {
  // 2 ranks consumed 2 global batches of 128; 1 rank with batch 128 continues with the third
  const dist::Shard rest = dist::shard_epoch(512, 9, 0, 256, 0, 1, 128, false);
  const auto order = dist::epoch_order(512, 9, 0);
  EXPECT_EQ(rest.indices, std::vector<int64_t>(order.begin() + 256, order.end()));
  EXPECT_EQ(rest.global_sizes, (std::vector<int64_t>{128, 128}));
}

TEST(DataParallel, GatherCopiesTheExamples) {
  Dataset d = load_dataset("synthetic", "", Split::train, 32);
  Dataset g = dist::gather(d, {5, 0, 31});
  ASSERT_EQ(g.size(), 3);
  const int64_t per = d.images.numel() / d.size();
  EXPECT_EQ(g.labels.data<int64_t>()[0], d.labels.data<int64_t>()[5]);
  EXPECT_TRUE(std::equal(g.images.data<uint8_t>() + 2 * per, g.images.data<uint8_t>() + 3 * per,
                         d.images.data<uint8_t>() + 31 * per));
}

TEST(DataParallel, OneRankCommunicatorTrainsAndRecordsItsWorld) {
  Dataset train = load_dataset("synthetic", "", Split::train, 256);
  Dataset test = load_dataset("synthetic", "", Split::test, 64);
  Normalization norm = fit_normalization(train);
  RunConfig c;
  c.model.name = "mlp";
  c.train.epochs = 2;
  c.train.batch_size = 64;
  c.train.progress = false;
  c.train.plots = false;
  c.train.tensorboard = false;
  c.schedule.name = "constant";
  c.schedule.lr = 0.05;
  const fs::path dir = fs::temp_directory_path() / ("cvtrain_test_dp_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  dist::LocalCommunicator comm;
  Context ctx(1, 2);
  nn::ModelSpec spec{"mlp"};
  spec.dropout = 0.0f;
  auto model = nn::build_model(spec, ctx.rng);
  RunOutput out{dir.string(), {}, nullptr, nullptr, &comm};
  FitResult r = fit(ctx, *model, c, train, nullptr, test, norm, {}, out);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[1].step, 8);
  EXPECT_GT(r.history[1].test_acc, 0.5);  // it trained (10 classes: chance is 0.1)
  const CheckpointContents ck = read_checkpoint(r.last_checkpoint);
  EXPECT_EQ(ck.state.world, 1);
  EXPECT_EQ(ck.state.images_done, 0);  // taken at the epoch's end
  fs::remove_all(dir);
}
