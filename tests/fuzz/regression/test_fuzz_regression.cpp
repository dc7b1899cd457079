// Regression tests for what the fuzzers (tests/fuzz) and the bad-input suite found in the readers:
// every saved input under inputs/<reader>/ is replayed (it must be refused with an InputError naming
// the file, nothing else), and each fixed bug has a case stating the expected message.
// The config-loader findings are checked through the program in tests/cli/bad_input_files.sh.
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "common/testing.h"
#include "cvtrain/data/cifar.h"
#include "cvtrain/data/idx.h"
#include "cvtrain/data/image_io.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/tensor/safetensors.h"

using namespace cvtrain;
namespace fs = std::filesystem;

namespace {

const fs::path kInputs = fs::path(CVTRAIN_FUZZ_REGRESSION) / "inputs";

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("cvtrain_fuzz_regression_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs `read` and returns the InputError's message; fails the test on success or any other exception.
template <class F>
std::string input_error(F&& read) {
  try {
    read();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string gzip(const std::string& raw) {
  std::string out(compressBound(raw.size()) + 32, '\0');
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

TEST(FuzzRegression, SavedIdxInputsAreRefused) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(kInputs / "idx")) {
    const std::string msg = input_error([&] { read_idx(e.path().string()); });
    EXPECT_NE(msg.find(e.path().string()), std::string::npos) << msg;
    ++n;
  }
  EXPECT_GE(n, 2);
}

// fuzz_idx, fuzz_idx_gz: a zero dimension made the declared size 0, and the others overflowed the
// int64 strides (UBSan: signed integer overflow in contiguous_strides).
TEST(FuzzRegression, IdxZeroDimensionBesideHugeOnes) {
  const std::string dir = temp_dir("idx");
  const std::string raw = std::string("\0\0\x08\x04", 4) + be32(0) + be32(0xFFFFFFFF) + be32(0xFFFFFFFF) + be32(0xFFFFFFFF);
  write(dir + "/raw", raw);
  write(dir + "/gz", gzip(raw));
  EXPECT_NE(input_error([&] { read_idx(dir + "/raw"); }).find("/raw: IDX header declares dimensions 0x4294967295"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_idx(dir + "/gz"); }).find("too large for any file"), std::string::npos);
  // ... while an empty file of sane dimensions still reads.
  write(dir + "/empty", std::string("\0\0\x08\x03", 4) + be32(0) + be32(28) + be32(28));
  EXPECT_EQ(read_idx(dir + "/empty").shape(), (Shape{0, 28, 28}));
}

// The same stride overflow through a safetensors shape (found reviewing the IDX finding).
TEST(FuzzRegression, SafetensorsZeroDimensionBesideHugeOnes) {
  const std::string dir = temp_dir("st");
  std::string header = R"({"x":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(header.size() >> (8 * i));
  write(dir + "/x.safetensors", len + header);
  const std::string msg = input_error([&] { read_safetensors(dir + "/x.safetensors"); });
  EXPECT_NE(msg.find("x.safetensors: tensor 'x': shape [0,1099511627776,1099511627776] is too large"), std::string::npos)
      << msg;
}

// fuzz_image / bad_input_files.sh: a PNG header declaring 60000x60000 RGB pixels in a 60-byte file
// made a 2 GiB buffer (PNG_IMAGE_SIZE wraps at 32 bits) before libpng refused it.
TEST(FuzzRegression, PngDeclaringMorePixelsThanTheFileCanHold) {
  const std::string dir = temp_dir("png");
  U8Image small{3, 4, 5, std::vector<uint8_t>(60, 7)};
  write_png(dir + "/ok.png", small);
  std::ifstream in(dir + "/ok.png", std::ios::binary);
  std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // IHDR's width and height sit at bytes 16..23; the CRC is not checked before the size.
  png.replace(16, 8, be32(60000) + be32(60000));
  const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17));
  png.replace(29, 4, be32(crc));
  write(dir + "/huge.png", png);
  const std::string msg = input_error([&] { read_image(dir + "/huge.png"); });
  EXPECT_NE(msg.find("huge.png: PNG header declares 60000x60000 pixels, more than"), std::string::npos) << msg;
  EXPECT_EQ(read_image(dir + "/ok.png").data, small.data);
}

// bad_input_files.sh: a JPEG cut short decoded "successfully", the missing rows filled with gray.
TEST(FuzzRegression, TruncatedJpegIsAnError) {
  const std::string dir = temp_dir("jpeg");
  U8Image img{3, 32, 48, std::vector<uint8_t>(3 * 32 * 48)};
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(i * 31 % 251);
  write_jpeg(dir + "/ok.jpg", img, 90);
  std::ifstream in(dir + "/ok.jpg", std::ios::binary);
  std::string jpg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write(dir + "/cut.jpg", jpg.substr(0, jpg.size() / 2));
  const std::string msg = input_error([&] { read_image(dir + "/cut.jpg"); });
  EXPECT_NE(msg.find("cut.jpg: corrupt JPEG: Premature end of JPEG file"), std::string::npos) << msg;
  EXPECT_EQ(read_image(dir + "/ok.jpg").H, 32);
}

// bad_input_files.sh: a CIFAR label out of range in data_batch_4.bin was reported as being in
// data_batch_1.bin, at its index in the concatenation.
TEST(FuzzRegression, CifarBadLabelNamesItsFile) {
  const std::string dir = temp_dir("cifar");
  const auto rec = [](uint8_t label) { return std::string(1, static_cast<char>(label)) + std::string(3072, '\0'); };
  for (int i = 1; i <= 5; ++i) write(dir + "/data_batch_" + std::to_string(i) + ".bin", rec(1) + rec(2));
  write(dir + "/data_batch_4.bin", rec(1) + rec(77));
  const std::string msg = input_error([&] { load_cifar(dir, false, Split::train, 0); });
  EXPECT_NE(msg.find("data_batch_4.bin: label 77 of record 1 is out of range"), std::string::npos) << msg;
}

// fuzz_model_file: an empty base64 array in preprocess_fit reached memcpy(nullptr, ..., 0) (UBSan;
// this replay is a failure only in the sanitized CI run), and shape values were multiplied unchecked.
TEST(FuzzRegression, SavedModelFileInputsReadTheirPreprocessing) {
  for (const auto& e : fs::directory_iterator(kInputs / "model_file")) {
    const SafetensorsFile f = read_safetensors(e.path().string());
    auto it = f.metadata.find("preprocess_fit");
    ASSERT_NE(it, f.metadata.end());
    try {
      preprocess_from_json(it->second, e.path().string());
    } catch (const InputError&) {
    }
  }
}

TEST(FuzzRegression, PreprocessShapeIsBoundedBeforeItIsMultiplied) {
  const std::string fit = R"({"mode": "pca", "components": 0, "epsilon": 0.1, "shape": [1099511627776, 1099511627776, 16],
                              "mean": "", "scale": "", "matrix": ""})";
  const std::string msg = input_error([&] { preprocess_from_json(fit, "m.safetensors"); });
  EXPECT_NE(msg.find("m.safetensors: preprocess_fit: shape dimension 1099511627776 is outside [1, 65536]"), std::string::npos)
      << msg;
  const std::string neg = R"({"mode": "pca", "components": -3, "epsilon": 0.1, "shape": [1, 2, 2], "mean": "", "scale": "", "matrix": ""})";
  EXPECT_NE(input_error([&] { preprocess_from_json(neg, "m"); }).find("components -3"), std::string::npos);
}
