// TensorBoard event files: what is written parses back record by record with both CRCs checked
// (the file_version event first, then scalars and a histogram with their tags, steps and values);
// a damaged byte is reported with the record's number; images, the SessionLog, pruning.
#include <filesystem>
#include <fstream>

#include "common/testing.h"
#include "cvtrain/data/image_io.h"
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

// Images: a Summary.Image with height, width, colorspace and PNG bytes that decode to the pixels
// written; a SessionLog START; prune_events keeps what it is told and drops a torn last record.
TEST(TensorBoard, ImagesSessionLogAndPruning) {
  const fs::path dir = fs::temp_directory_path() / ("cvtrain_test_tb_img_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  U8Image img{3, 5, 7, {}};
  for (size_t i = 0; i < 3 * 5 * 7; ++i) img.data.push_back(static_cast<uint8_t>(i * 2));
  std::string path;
  {
    EventWriter w(dir.string());
    path = w.path();
    w.image("images/augmentation", 0, img);
    for (int64_t s = 1; s <= 6; ++s) w.scalar("train/loss", s, static_cast<double>(s));
    w.session_start(4);
  }
  std::vector<EventRecord> ev = read_events(path);
  ASSERT_EQ(ev.size(), 9u);
  ASSERT_EQ(ev[1].images.size(), 1u);
  const auto& im = ev[1].images[0];
  EXPECT_EQ(im.tag, "images/augmentation");
  EXPECT_EQ(im.height, 5);
  EXPECT_EQ(im.width, 7);
  EXPECT_EQ(im.colorspace, 3);
  ASSERT_GT(im.png.size(), 8u);
  EXPECT_EQ(im.png.substr(1, 3), "PNG");
  const std::string png_path = (dir / "back.png").string();
  {
    std::ofstream out(png_path, std::ios::binary);
    out << im.png;
  }
  const U8Image back = read_image(png_path);
  EXPECT_EQ(back.C, 3);
  EXPECT_EQ(back.data, img.data);
  fs::remove(png_path);
  EXPECT_EQ(ev[8].session_status, 1);
  EXPECT_EQ(ev[8].step, 4);

  {  // a torn record at the end, as a killed writer leaves
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f << std::string("\x20\x00\x00\x00\x00", 5);
  }
  EXPECT_THROW(read_events(path), InputError);
  const int64_t dropped = prune_events(dir.string(), [](int64_t step, const std::string&) { return step <= 3; });
  EXPECT_EQ(dropped, 3);
  ev = read_events(path);
  ASSERT_EQ(ev.size(), 6u);  // file_version, image, steps 1-3, the session log (no tag: kept)
  EXPECT_EQ(ev[4].scalars[0].second, 3.0f);
  fs::remove_all(dir);
}
