// TensorBoard event files: what is written parses back record by record with both CRCs checked
// (the file_version event first, then scalars and a histogram with their tags, steps and values);
// a damaged byte is reported with the record's number.
#include <filesystem>
#include <fstream>

#include "common/testing.h"
#include "cvtrain/train/tensorboard.h"

using namespace cvtrain;
namespace fs = std::filesystem;

TEST(TensorBoard, ScalarsAndHistogramsParseBack) {
  const fs::path dir = fs::temp_directory_path() / ("cvtrain_test_tb_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::string path;
  {
    EventWriter w(dir.string());
    path = w.path();
    w.scalar("train/loss", 1, 2.5);
    w.scalar("test/acc", 300, 0.875);
    std::vector<float> v = {-1.0f, 0.0f, 0.5f, 1.0f, 3.0f};
    w.histogram("weights/fc.weight", 300, v.data(), static_cast<int64_t>(v.size()), 4);
  }
  EXPECT_NE(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), std::string::npos);
  std::vector<EventRecord> ev = read_events(path);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].file_version, "brain.Event:2");
  ASSERT_EQ(ev[1].scalars.size(), 1u);
  EXPECT_EQ(ev[1].scalars[0].first, "train/loss");
  EXPECT_EQ(ev[1].scalars[0].second, 2.5f);
  EXPECT_EQ(ev[1].step, 1);
  EXPECT_GT(ev[1].wall_time, 1.6e9);
  EXPECT_EQ(ev[2].scalars[0].first, "test/acc");
  EXPECT_EQ(ev[2].scalars[0].second, 0.875f);
  EXPECT_EQ(ev[2].step, 300);
  ASSERT_EQ(ev[3].histograms.size(), 1u);
  const auto& h = ev[3].histograms[0];
  EXPECT_EQ(h.tag, "weights/fc.weight");
  EXPECT_EQ(h.min, -1.0);
  EXPECT_EQ(h.max, 3.0);
  EXPECT_EQ(h.num, 5.0);
  EXPECT_EQ(h.sum, 3.5);
  EXPECT_EQ(h.sum_squares, 11.25);
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0.0, 1.0, 2.0, 3.0}));
  EXPECT_EQ(h.bucket, (std::vector<double>{1.0, 2.0, 1.0, 1.0}));  // width 1: [-1,0) [0,1) [1,2) [2,3]

  {  // damage the data of record 2
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    f.seekp(size - 10);
    f.put('\x7f');
  }
  try {
    read_events(path);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("record 3: data CRC mismatch"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
