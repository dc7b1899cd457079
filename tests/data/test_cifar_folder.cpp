// CIFAR binary files and image folders, written by the tests in the real formats (nobody can
// download CIFAR here), the train/validation split, and bad input: wrong sizes, corrupt images,
// empty class folders, mixed channel counts.
#include <filesystem>
#include <fstream>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/cifar.h"
#include "cvtrain/data/image_folder.h"
#include "cvtrain/data/image_io.h"

namespace cvtrain {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("cvtrain_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// n CIFAR records; record i has label (i * 3) % K and pixel k of it = (i + k) % 256.
std::vector<uint8_t> cifar_records(int n, bool hundred) {
  std::vector<uint8_t> b;
  for (int i = 0; i < n; ++i) {
    if (hundred) b.push_back(static_cast<uint8_t>(i % 20));  // coarse
    b.push_back(static_cast<uint8_t>((i * 3) % (hundred ? 100 : 10)));
    for (int k = 0; k < 3072; ++k) b.push_back(static_cast<uint8_t>((i + k) % 256));
  }
  return b;
}

TEST(Cifar, ReadsTenAndHundredBinaryFiles) {
  const fs::path d = fresh_dir("cifar10");
  const fs::path sub = d / "cifar-10-batches-bin";
  fs::create_directories(sub);
  for (int i = 1; i <= 5; ++i) write_bytes(sub / ("data_batch_" + std::to_string(i) + ".bin"), cifar_records(3, false));
  write_bytes(sub / "test_batch.bin", cifar_records(4, false));
  const Dataset train = load_cifar(d.string(), false, Split::train, 0);
  EXPECT_EQ(train.images.shape(), Shape({15, 3, 32, 32}));
  EXPECT_EQ(train.labels.data<int64_t>()[2], 6);
  EXPECT_EQ(train.images.data<uint8_t>()[2 * 3072 + 1024], (2 + 1024) % 256);  // green plane
  EXPECT_EQ(train.class_names.at(0), "airplane");
  EXPECT_EQ(load_cifar(d.string(), false, Split::test, 2).size(), 2);

  const fs::path h = fresh_dir("cifar100");
  write_bytes(h / "train.bin", cifar_records(5, true));
  write_bytes(h / "test.bin", cifar_records(2, true));
  const Dataset c100 = load_cifar(h.string(), true, Split::train, 0);
  EXPECT_EQ(c100.size(), 5);
  EXPECT_EQ(c100.labels.data<int64_t>()[4], 12);  // the fine label
  EXPECT_EQ(c100.num_classes(), 100);
  fs::remove_all(d);
  fs::remove_all(h);
}

TEST(Cifar, BadFilesAreInputErrors) {
  const fs::path h = fresh_dir("cifar_bad");
  std::vector<uint8_t> b = cifar_records(2, true);
  b.pop_back();
  write_bytes(h / "train.bin", b);
  EXPECT_NE(testing::input_error_of([&] { load_cifar(h.string(), true, Split::train, 0); }).find("not a whole number of 3074-byte"), std::string::npos);
  std::vector<uint8_t> bad = cifar_records(1, false);
  bad[0] = 10;
  write_bytes(h / "test_batch.bin", bad);
  EXPECT_NE(testing::input_error_of([&] { load_cifar(h.string(), false, Split::test, 0); }).find("label 10"), std::string::npos);
  EXPECT_NE(testing::input_error_of([&] { load_cifar(h.string(), false, Split::train, 0); }).find("data_batch_1.bin"), std::string::npos);
  EXPECT_NE(testing::input_error_of([&] { load_cifar((h / "nope").string(), false, Split::train, 0); }).find("does not exist"), std::string::npos);
  fs::remove_all(h);
}

U8Image pattern(int64_t C, int64_t H, int64_t W, int seed) {
  U8Image img{C, H, W, std::vector<uint8_t>(static_cast<size_t>(C * H * W))};
  for (size_t k = 0; k < img.data.size(); ++k) img.data[k] = static_cast<uint8_t>((k * 37 + seed * 11) % 256);
  return img;
}

TEST(ImageIo, PngRoundTripsExactlyAndJpegApproximately) {
  const fs::path d = fresh_dir("imgio");
  for (int64_t C : {1, 3}) {
    const U8Image img = pattern(C, 5, 7, 1);
    write_png((d / "a.png").string(), img);
    const U8Image back = read_image((d / "a.png").string());
    EXPECT_EQ(back.C, C);
    EXPECT_EQ(back.data, img.data);
    U8Image flat{C, 16, 16, std::vector<uint8_t>(static_cast<size_t>(C * 256), 100)};
    write_jpeg((d / "a.jpg").string(), flat, 95);
    const U8Image j = read_image((d / "a.jpg").string());
    ASSERT_EQ(j.C, C);
    ASSERT_EQ(j.H, 16);
    for (uint8_t v : j.data) EXPECT_NEAR(v, 100, 2);
  }
  write_bytes(d / "bad.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3});
  EXPECT_NE(testing::input_error_of([&] { read_image((d / "bad.png").string()); }).find("bad.png"), std::string::npos);
  write_bytes(d / "bad.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F'});
  EXPECT_NE(testing::input_error_of([&] { read_image((d / "bad.jpg").string()); }).find("corrupt JPEG"), std::string::npos);
  write_bytes(d / "text.png", {'h', 'i'});
  EXPECT_NE(testing::input_error_of([&] { read_image((d / "text.png").string()); }).find("neither a PNG nor a JPEG"), std::string::npos);
  fs::remove_all(d);
}

TEST(ImageFolder, LoadsClassesInSortedOrderAndHandlesBadFiles) {
  const fs::path d = fresh_dir("folder");
  fs::create_directories(d / "cat");
  fs::create_directories(d / "ant");
  write_png((d / "cat" / "1.png").string(), pattern(3, 6, 8, 1));
  write_jpeg((d / "cat" / "2.JPG").string(), pattern(3, 6, 8, 2));
  write_png((d / "ant" / "x.png").string(), pattern(3, 6, 8, 3));
  std::ofstream(d / "ant" / "notes.txt") << "ignored";
  Dataset ds = load_image_folder(d.string(), BadFile::fail, 0);
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"ant", "cat"}));
  EXPECT_EQ(ds.images.shape(), Shape({3, 3, 6, 8}));
  EXPECT_EQ(ds.labels.data<int64_t>()[0], 0);
  EXPECT_EQ(ds.labels.data<int64_t>()[2], 1);
  EXPECT_EQ(ds.images.data<uint8_t>()[0], pattern(3, 6, 8, 3).data[0]);

  write_bytes(d / "cat" / "3.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0});
  EXPECT_NE(testing::input_error_of([&] { load_image_folder(d.string(), BadFile::fail, 0); }).find("3.png"), std::string::npos);
  EXPECT_EQ(load_image_folder(d.string(), BadFile::skip, 0).size(), 3);
  fs::remove(d / "cat" / "3.png");

  write_png((d / "cat" / "4.png").string(), pattern(1, 6, 8, 4));
  EXPECT_NE(testing::input_error_of([&] { load_image_folder(d.string(), BadFile::fail, 0); }).find("1x6x8"), std::string::npos);
  fs::remove(d / "cat" / "4.png");

  fs::create_directories(d / "dog");
  EXPECT_NE(testing::input_error_of([&] { load_image_folder(d.string(), BadFile::fail, 0); }).find("has no .png"), std::string::npos);
  EXPECT_NE(testing::input_error_of([&] { load_image_folder_split(d.string(), Split::test, BadFile::fail, 0); }).find("val_fraction"),
            std::string::npos);
  EXPECT_NE(testing::input_error_of([&] { parse_bad_file("ignore"); }).find("data.on_bad_file"), std::string::npos);
  fs::remove_all(d);
}

TEST(ImageFolder, TrainTestLayoutAndValidationSplit) {
  const fs::path d = fresh_dir("folder_split");
  for (const char* split : {"train", "test"})
    for (const char* cls : {"a", "b"}) {
      fs::create_directories(d / split / cls);
      for (int i = 0; i < 5; ++i) write_png((d / split / cls / (std::to_string(i) + ".png")).string(), pattern(1, 4, 4, i));
    }
  DataOptions o;
  o.dataset = "image_folder", o.root = d.string();
  EXPECT_EQ(load_dataset(o, Split::train, 1).size(), 10);
  EXPECT_EQ(load_dataset(o, Split::test, 1).size(), 10);
  EXPECT_FALSE(has_validation_split(o));
  EXPECT_NE(testing::input_error_of([&] { load_dataset(o, Split::val, 1); }).find("data.val_fraction"), std::string::npos);
  o.val_fraction = 0.3;  // of each class's 5 images, round(1.5) = 2 held out
  const Dataset tr = load_dataset(o, Split::train, 1), va = load_dataset(o, Split::val, 1);
  EXPECT_EQ(tr.size(), 6);
  EXPECT_EQ(va.size(), 4);
  EXPECT_EQ(load_dataset(o, Split::test, 1).size(), 10);  // the test split stays the folder's own
  o.val_fraction = 0;
  for (const char* cls : {"a", "b"}) {  // train/, val/ and test/: val/ is the validation split
    fs::create_directories(d / "val" / cls);
    for (int i = 0; i < 3; ++i) write_png((d / "val" / cls / (std::to_string(i) + ".png")).string(), pattern(1, 4, 4, i));
  }
  EXPECT_TRUE(has_validation_split(o));
  EXPECT_EQ(load_dataset(o, Split::val, 1).size(), 6);
  EXPECT_EQ(load_dataset(o, Split::test, 1).size(), 10);
  o.val_fraction = 0.3;
  EXPECT_NE(testing::input_error_of([&] { load_dataset(o, Split::train, 1); }).find("has its own val/"), std::string::npos);
  fs::remove_all(d);
}

TEST(Split, StratifiedByClass) {
  Dataset ds = make_synthetic(100, 1, 8, 8, 1);  // labels i % 4: 25 per class
  for (int64_t i = 0; i < 100; ++i) ds.labels.data<int64_t>()[i] = i < 70 ? 0 : i < 90 ? 1 : 2;  // 70 / 20 / 10
  const auto [tr, va] = split_dataset(ds, 0.1, 3);
  std::vector<int64_t> held(3, 0), kept(3, 0);
  for (int64_t i = 0; i < va.size(); ++i) ++held[static_cast<size_t>(va.labels.data<int64_t>()[i])];
  for (int64_t i = 0; i < tr.size(); ++i) ++kept[static_cast<size_t>(tr.labels.data<int64_t>()[i])];
  EXPECT_EQ(held, (std::vector<int64_t>{7, 2, 1}));  // a tenth of each class, not of the whole
  EXPECT_EQ(kept, (std::vector<int64_t>{63, 18, 9}));
}

TEST(Split, DisjointCoveringAndSeeded) {
  const Dataset ds = make_synthetic(100, 1, 8, 8, 1);
  const auto [tr, va] = split_dataset(ds, 0.2, 5);
  EXPECT_EQ(tr.size(), 80);
  EXPECT_EQ(va.size(), 20);
  const auto again = split_dataset(ds, 0.2, 5);
  EXPECT_TRUE(testing::all_close(again.second.images.to(DType::f32), va.images.to(DType::f32), 0, 0));
  const auto other = split_dataset(ds, 0.2, 6);
  EXPECT_FALSE(testing::all_close(other.second.images.to(DType::f32), va.images.to(DType::f32), 0, 0));
  EXPECT_THROW(split_dataset(ds, 0.0, 1), InputError);
  EXPECT_THROW(split_dataset(ds, 0.001, 1), InputError);
}

}  // namespace
}  // namespace cvtrain
