// Checkpoints: CRC32C's check value; a write/read round trip restores weights, optimizer state and
// counters, EMA and the loop position; a flipped byte is caught by the checksum; the newest good
// checkpoint is found past a damaged one; pruning keeps the last K and sweeps killed writes.
#include <filesystem>
#include <fstream>

#include "common/testing.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/optim/adaptive.h"
#include "cvtrain/train/checkpoint.h"

using namespace cvtrain;
using namespace cvtrain::testing;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("cvtrain_test_checkpoint_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void flip_byte(const std::string& path, std::streamoff from_end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-from_end, std::ios::end);
  char c;
  f.get(c);
  f.seekp(-from_end, std::ios::end);
  f.put(static_cast<char>(c ^ 0x40));
}

}  // namespace

TEST(Checkpoint, Crc32cCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C check value (RFC 3720, B.4)
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);  // continued
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Checkpoint, RoundTripRestoresEverything) {
  const std::string dir = temp_dir("roundtrip");
  Rng rng(3);
  auto model = nn::build_model(nn::ModelSpec{"mlp"}, rng);
  nn::ParameterArena arena(*model);
  optim::OptimOptions o;
  optim::Adam adam(arena, o, true);
  for (int64_t i = 0; i < arena.size(); ++i) arena.grad()[i] = 0.01f * static_cast<float>(i % 7);
  adam.step(0.01f, 0.9f);
  adam.step(0.01f, 0.9f);
  std::vector<float> ema(arena.data(), arena.data() + arena.size());
  ema[5] = 42.0f;
  TrainState st;
  st.epoch = 2, st.batches_done = 7, st.step = 19, st.loss_sum = 1.25, st.correct = 3, st.seen = 4;
  rng.next_u32();
  st.rng_now = rng.state();
  st.history_json = R"([{"epoch":1}])";
  const std::string path = checkpoint_path(dir, st.step);
  write_checkpoint(path, *model, adam, ema, st, {{"config", "seed: 3\n"}});

  CheckpointContents ck = read_checkpoint(path);
  EXPECT_EQ(ck.state.epoch, 2);
  EXPECT_EQ(ck.state.batches_done, 7);
  EXPECT_EQ(ck.state.step, 19);
  EXPECT_EQ(ck.state.loss_sum, 1.25);
  EXPECT_EQ(ck.state.rng_now.seq, st.rng_now.seq);
  EXPECT_EQ(ck.state.history_json, R"([{"epoch":1}])");
  EXPECT_EQ(ck.metadata.at("config"), "seed: 3\n");

  Rng rng2(99);
  auto other = nn::build_model(nn::ModelSpec{"mlp"}, rng2);
  nn::ParameterArena arena2(*other);
  optim::Adam adam2(arena2, o, true);
  std::vector<float> ema2(static_cast<size_t>(arena2.size()));
  restore_checkpoint(ck, *other, adam2, ema2);
  EXPECT_EQ(std::vector<float>(arena.data(), arena.data() + arena.size()),
            std::vector<float>(arena2.data(), arena2.data() + arena2.size()));
  EXPECT_EQ(adam2.t, 2);
  EXPECT_EQ(adam2.m, adam.m);
  EXPECT_EQ(adam2.v, adam.v);
  EXPECT_EQ(ema2, ema);
  fs::remove_all(dir);
}

TEST(Checkpoint, DamageIsDetectedAndSkipped) {
  const std::string dir = temp_dir("damage");
  Rng rng(1);
  auto model = nn::build_model(nn::ModelSpec{"mlp"}, rng);
  nn::ParameterArena arena(*model);
  optim::OptimOptions o;
  optim::Adam adam(arena, o, false);
  TrainState st;
  for (int64_t step : {10, 20, 30}) {
    st.step = step;
    write_checkpoint(checkpoint_path(dir, step), *model, adam, {}, st, {});
  }
  EXPECT_EQ(list_checkpoints(dir).size(), 3u);
  flip_byte(checkpoint_path(dir, 30), 5);
  try {
    read_checkpoint(checkpoint_path(dir, 30));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  EXPECT_EQ(latest_good_checkpoint(dir), checkpoint_path(dir, 20));
  prune_checkpoints(dir, 2);
  EXPECT_EQ(list_checkpoints(dir), (std::vector<std::string>{checkpoint_path(dir, 20), checkpoint_path(dir, 30)}));
  EXPECT_EQ(latest_good_checkpoint(temp_dir("empty")), "");
  fs::remove_all(dir);
}

// Pruning sweeps what a killed write left ("NAME.tmp.PID" of another process) in the run folder,
// checkpoints/ and snapshots/, and nothing else: not this process's own temporary, not a file that
// merely has ".tmp" in its name.
TEST(Checkpoint, PruneSweepsKilledWritesOnly) {
  const std::string dir = temp_dir("sweep");
  fs::create_directories(fs::path(dir) / "checkpoints");
  fs::create_directories(fs::path(dir) / "snapshots");
  const std::string own = std::to_string(::getpid());
  const std::vector<std::string> killed = {"metrics.jsonl.tmp.4194305", "best.safetensors.tmp.77",
                                           "checkpoints/step-00000003.safetensors.tmp.12",
                                           "snapshots/epoch-0002.safetensors.tmp.9"};
  const std::vector<std::string> kept = {"steps.jsonl.tmp." + own, "notes.tmp", "notes.tmp.txt", "plan.tmp.1a",
                                         ".tmp.5", "metrics.jsonl"};
  for (const auto& name : killed) std::ofstream(fs::path(dir) / name) << "x";
  for (const auto& name : kept) std::ofstream(fs::path(dir) / name) << "x";
  prune_checkpoints(dir, 3);
  for (const auto& name : killed) EXPECT_FALSE(fs::exists(fs::path(dir) / name)) << name;
  for (const auto& name : kept) EXPECT_TRUE(fs::exists(fs::path(dir) / name)) << name;
  fs::remove_all(dir);
}
