// read_idx on small IDX files written here, raw and gzip'd, and on corrupt variants of them: every
// failure must be an InputError naming the file, and absurd declared sizes must fail fast.
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <cstdlib>

#include "common/testing.h"
#include "cvtrain/data/idx.h"

using namespace cvtrain;

namespace {

std::string make_temp_dir() {
  std::string tmpl = ::testing::TempDir() + "cvtrain_idx_XXXXXX";
  CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp ", tmpl);
  return tmpl;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The IDX encoding of u8 values: magic 00 00 08 ND, big-endian u32 dims, data.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data, uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((d >> shift) & 0xff));
  return s + data;
}

// One gzip member holding `raw`.
std::string gzip_bytes(const std::string& raw) {
  z_stream zs{};
  CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
  std::string out(deflateBound(&zs, raw.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END, "deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 37 + 11) % 256);
  return s;
}

// Runs read_idx(path) and returns the InputError message; fails the test if none is thrown.
std::string idx_error(const std::string& path) {
  try {
    read_idx(path);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "read_idx(" << path << ") did not throw InputError";
  return "";
}

class Idx : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_ = make_temp_dir();
  std::string file(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    write_bytes(path, bytes);
    return path;
  }
};

void expect_values(const Tensor& t, const Shape& shape, const std::string& data) {
  ASSERT_EQ(t.dtype(), DType::u8);
  ASSERT_EQ(t.shape(), shape);
  ASSERT_TRUE(t.is_contiguous());
  ASSERT_EQ(static_cast<size_t>(t.numel()), data.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.data<uint8_t>()), data.size()), data);
}

}  // namespace

TEST_F(Idx, ReadsRawImages) {
  const std::string data = pattern(3 * 4 * 5);
  expect_values(read_idx(file("images-idx3-ubyte", idx_bytes({3, 4, 5}, data))), {3, 4, 5}, data);
}

TEST_F(Idx, ReadsGzipImagesAndLabels) {
  const std::string data = pattern(7 * 28 * 28);
  expect_values(read_idx(file("images-idx3-ubyte.gz", gzip_bytes(idx_bytes({7, 28, 28}, data)))), {7, 28, 28}, data);
  const std::string labels("\x09\x00\x00\x03\x00\x02\x07", 7);
  expect_values(read_idx(file("labels-idx1-ubyte.gz", gzip_bytes(idx_bytes({7}, labels)))), {7}, labels);
}

TEST_F(Idx, DetectsGzipByMagicNotByName) {
  const std::string data = pattern(2 * 3 * 3);
  expect_values(read_idx(file("raw-named.gz", idx_bytes({2, 3, 3}, data))), {2, 3, 3}, data);
  expect_values(read_idx(file("gzip-named-raw", gzip_bytes(idx_bytes({2, 3, 3}, data)))), {2, 3, 3}, data);
}

TEST_F(Idx, ReadsLargeGzipInChunks) {
  // Several MB, so the growing buffer and the chunked inflate loop run many rounds.
  const std::string data = pattern(3000 * 28 * 28);
  expect_values(read_idx(file("big.gz", gzip_bytes(idx_bytes({3000, 28, 28}, data)))), {3000, 28, 28}, data);
}

TEST_F(Idx, AcceptsConcatenatedGzipMembers) {
  const std::string whole = idx_bytes({4, 6}, pattern(24));
  const std::string gz = gzip_bytes(whole.substr(0, 10)) + gzip_bytes(whole.substr(10));
  expect_values(read_idx(file("two-members.gz", gz)), {4, 6}, pattern(24));
}

TEST_F(Idx, ReadsZeroImages) {
  expect_values(read_idx(file("empty-idx3", idx_bytes({0, 28, 28}, ""))), {0, 28, 28}, "");
}

TEST_F(Idx, MissingFileNamesIt) {
  const std::string path = dir_ + "/no-such-file.gz";
  const std::string msg = idx_error(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

TEST_F(Idx, DirectoryIsRejected) {
  const std::string msg = idx_error(dir_);
  EXPECT_EQ(msg.rfind(dir_, 0), 0u) << msg;
}

TEST_F(Idx, WrongMagicIsRejected) {
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"png-like", "\x89PNG\r\n\x1a\nxxxxxxxx"},
           {"float-type", idx_bytes({2}, std::string(8, '\0'), 0x0D)},
           {"signed-type", idx_bytes({2}, "ab", 0x09)},
           {"too-short", std::string("\0\0", 2)},
           {"empty", ""}}) {
    const std::string path = file(name, bytes);
    const std::string msg = idx_error(path);
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  }
  EXPECT_NE(idx_error(file("f", idx_bytes({2}, std::string(8, '\0'), 0x0D))).find("0x0d"), std::string::npos);
  EXPECT_NE(idx_error(file("p", "\x89PNG\r\n\x1a\nxxxxxxxx")).find("magic 0x89504e47"), std::string::npos);
}

TEST_F(Idx, DimensionCountOutOfRange) {
  std::string zero_dims = {0, 0, 8, 0};
  const std::string p0 = file("nd0", zero_dims + "abc");
  EXPECT_NE(idx_error(p0).find("declares 0 dimensions"), std::string::npos);
  const std::string p5 = file("nd5", idx_bytes({1, 1, 1, 1, 1}, "a"));
  const std::string msg = idx_error(p5);
  EXPECT_NE(msg.find(p5), std::string::npos) << msg;
  EXPECT_NE(msg.find("declares 5 dimensions"), std::string::npos) << msg;
}

TEST_F(Idx, TruncatedHeaderAndData) {
  const std::string full = idx_bytes({10, 28, 28}, pattern(10 * 28 * 28));
  const std::string in_dims = file("cut-in-dims", full.substr(0, 9));
  EXPECT_NE(idx_error(in_dims).find("ends inside them"), std::string::npos);

  const std::string raw = file("train-images-idx3-ubyte", full.substr(0, 16 + 1234));
  const std::string msg = idx_error(raw);
  EXPECT_EQ(msg, raw + ": truncated: header declares 10x28x28 values (7840 bytes) but the file holds 1234");

  // The gzip stream is complete, its content is short.
  const std::string gz = file("train-images-idx3-ubyte.gz", gzip_bytes(full.substr(0, 16 + 1234)));
  EXPECT_EQ(idx_error(gz),
            gz + ": truncated: header declares 10x28x28 values (7840 bytes) but the decompressed stream holds 1234");
}

TEST_F(Idx, TrailingGarbage) {
  const std::string bytes = idx_bytes({2, 2}, "abcd") + "xyz";
  const std::string raw = file("trailing", bytes);
  EXPECT_NE(idx_error(raw).find("trailing garbage: 3 bytes"), std::string::npos) << idx_error(raw);
  const std::string gz = file("trailing-inside.gz", gzip_bytes(bytes));
  EXPECT_NE(idx_error(gz).find("trailing garbage"), std::string::npos) << idx_error(gz);
  const std::string after = file("trailing-after.gz", gzip_bytes(idx_bytes({2, 2}, "abcd")) + "junk");
  EXPECT_NE(idx_error(after).find("trailing garbage after the gzip stream"), std::string::npos) << idx_error(after);
}

TEST_F(Idx, TruncatedGzip) {
  const std::string gz = gzip_bytes(idx_bytes({50, 28, 28}, pattern(50 * 28 * 28)));
  // Cut inside the deflate data, and cut just before the 8-byte CRC/size trailer ends.
  for (size_t keep : {gz.size() / 2, gz.size() - 3, size_t{12}}) {
    const std::string path = file("cut" + std::to_string(keep) + ".gz", gz.substr(0, keep));
    const std::string msg = idx_error(path);
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  }
}

TEST_F(Idx, CorruptGzip) {
  const std::string garbage = file("garbage.gz", std::string("\x1f\x8b", 2) + pattern(300));
  EXPECT_NE(idx_error(garbage).find(garbage + ": gzip: corrupt stream"), std::string::npos) << idx_error(garbage);

  // A flipped byte in the compressed data: an invalid block or a CRC mismatch, never silent.
  std::string gz = gzip_bytes(idx_bytes({20, 28, 28}, pattern(20 * 28 * 28)));
  std::string flipped = gz;
  flipped[gz.size() / 2] = static_cast<char>(flipped[gz.size() / 2] ^ 0x55);
  const std::string bad = file("flipped.gz", flipped);
  const std::string msg = idx_error(bad);
  EXPECT_EQ(msg.rfind(bad + ": ", 0), 0u) << msg;

  std::string bad_crc = gz;
  bad_crc[gz.size() - 6] = static_cast<char>(bad_crc[gz.size() - 6] ^ 0x01);
  const std::string crc = file("crc.gz", bad_crc);
  EXPECT_NE(idx_error(crc).find("incorrect data check"), std::string::npos) << idx_error(crc);
}

TEST_F(Idx, HugeDeclaredSizesFailFastWithoutAllocating) {
  // 2^31 x 2^31 bytes = 4 EiB: allocating it would throw std::bad_alloc, not InputError.
  const auto t0 = std::chrono::steady_clock::now();
  const std::string data = pattern(1000);
  const std::string raw = file("huge", idx_bytes({1u << 31, 1u << 31}, data));
  EXPECT_NE(idx_error(raw).find("2147483648x2147483648 values (4611686018427387904 bytes) but the file holds 1000"),
            std::string::npos)
      << idx_error(raw);
  const std::string gz = file("huge.gz", gzip_bytes(idx_bytes({1u << 31, 1u << 31}, data)));
  // gzip: refused from the compressed size alone (deflate expands at most 1032x), nothing inflated
  EXPECT_NE(idx_error(gz).find("-byte gzip file can hold (deflate expands at most 1032x)"), std::string::npos)
      << idx_error(gz);
  // Four maximal dims overflow 64 bits.
  const std::string over = file("overflow.gz", gzip_bytes(idx_bytes({~0u, ~0u, ~0u, ~0u}, data)));
  EXPECT_NE(idx_error(over).find("more than 2^64 bytes"), std::string::npos) << idx_error(over);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
}
