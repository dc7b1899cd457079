// safetensors: a file written by PyTorch (tests/fixtures/record_safetensors.py), round trips of every
// dtype, strict rejection of corrupt files (InputError naming the file), and atomic writes.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/testing.h"
#include "cvtrain/tensor/safetensors.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

std::string make_temp_dir() {
  std::string tmpl = ::testing::TempDir() + "cvtrain_st_XXXXXX";
  CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp ", tmpl);
  return tmpl;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file from a header text and a buffer, with the length field saying `declared` (default: true).
std::string st_bytes(const std::string& header, const std::string& buffer, int64_t declared = -1) {
  const uint64_t n = declared < 0 ? header.size() : static_cast<uint64_t>(declared);
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s + header + buffer;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.numel() == 0) return true;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
}

template <class T>
Tensor typed(const std::vector<T>& values, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DTypeOf<T>::value);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

class Safetensors : public ::testing::Test {
 protected:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(dir_);
  }
  std::string dir_ = make_temp_dir();

  // read_safetensors on `bytes`; returns the InputError message (test fails if none).
  std::string error_of(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    write_bytes(path, bytes);
    try {
      read_safetensors(path);
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "message must start with the file: " << msg;
      return msg;
    }
    ADD_FAILURE() << name << ": read_safetensors did not throw InputError";
    return "";
  }
};

const char* kGood = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";

}  // namespace

TEST_F(Safetensors, ReadsTheFileRecordedWithPyTorch) {
  SafetensorsFile f = read_safetensors(std::string(CVTRAIN_FIXTURES) + "/tiny.safetensors");
  std::vector<std::string> names;
  for (const auto& [name, t] : f.tensors) names.push_back(name);
  // Data order, not the (sorted) header order.
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "half", "steps", "empty", "counts", "pixels", "scalar"}));
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "recorded by record_safetensors.py"}}));

  std::vector<float> weight;
  for (int i = 0; i < 6; ++i) weight.push_back(static_cast<float>(i) / 3.0f - 0.5f);  // torch: arange(6)/3 - 0.5
  EXPECT_TRUE(same_bytes(*f.find("weight"), Tensor::from_vector(weight, {2, 3})));
  std::vector<bf16> half;
  for (float v : {1.0f, -2.5f, 3.14159f, 1e-3f}) half.push_back(float_to_bf16(v));
  EXPECT_TRUE(same_bytes(*f.find("half"), typed(half, {4})));
  EXPECT_EQ(f.find("half")->to_vector(), (std::vector<float>{1.0f, -2.5f, 3.140625f, 0.00099945068359375f}));
  EXPECT_TRUE(same_bytes(*f.find("steps"), typed<int64_t>({0, -1, (int64_t{1} << 40) + 3}, {3})));
  EXPECT_TRUE(same_bytes(*f.find("counts"), typed<int32_t>({1, -2, INT32_MAX, INT32_MIN}, {2, 2})));
  EXPECT_TRUE(same_bytes(*f.find("pixels"), typed<uint8_t>({0, 1, 127, 128, 255}, {5})));
  EXPECT_EQ(f.find("empty")->shape(), (Shape{0, 3}));
  EXPECT_EQ(f.find("scalar")->shape(), Shape{});
  EXPECT_EQ(f.find("scalar")->item(), 2.5f);
  EXPECT_EQ(f.find("nope"), nullptr);
}

TEST_F(Safetensors, RoundTripsEveryDtypeAndTheMetadata) {
  std::vector<bf16> half;
  for (float v : {0.5f, -3.0f, 1e30f, -1e-20f, 7.0f, 0.1f}) half.push_back(float_to_bf16(v));
  Tensor w = random_tensor({3, 4}, 9);
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"conv.weight", random_tensor({2, 3, 3, 3}, 1)},
      {"wT", w.permute({1, 0})},  // non-contiguous: stored packed in logical order
      {"bn.num_batches_tracked", typed<int64_t>({123456789012345}, {})},
      {"half", typed(half, {2, 3})},
      {"idx", typed<int32_t>({-7, 0, 7}, {3})},
      {"nothing", Tensor::empty({0}, DType::f32)},
      {"mask", typed<uint8_t>({1, 0, 1, 1, 0}, {5})},
  };
  const std::map<std::string, std::string> meta = {{"arch", "resnet8"}, {"mean", "0.2860406"}, {"quote\"s", "a\nb"}};
  const std::string path = dir_ + "/model.safetensors";
  write_safetensors(path, tensors, meta);

  SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, tensors[i].first) << "order is kept";
    EXPECT_TRUE(same_bytes(f.tensors[i].second, tensors[i].second)) << tensors[i].first;
    EXPECT_TRUE(f.tensors[i].second.is_contiguous());
  }

  // Layout: the header length is a multiple of 8 and the buffer is exactly the tensors' bytes.
  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size() - 8 - n, (54 + 12) * 4 + 8 + 6 * 2 + 3 * 4 + 0 + 5u);
  EXPECT_EQ(bytes[8], '{');
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(getpid())));

  // Rewriting the file replaces it whole.
  write_safetensors(path, {{"only", Tensor::full({2}, 1.5f)}}, {});
  SafetensorsFile g = read_safetensors(path);
  ASSERT_EQ(g.tensors.size(), 1u);
  EXPECT_TRUE(g.metadata.empty());
  EXPECT_EQ(g.find("only")->to_vector(), (std::vector<float>{1.5f, 1.5f}));
}

TEST_F(Safetensors, TruncatedFiles) {
  const std::string good = st_bytes(kGood, std::string(11, 'x'));
  EXPECT_NE(error_of("short", good.substr(0, 5)).find("less than the 8-byte header length"), std::string::npos);
  EXPECT_NE(error_of("in-header", good.substr(0, 40)).find("header length"), std::string::npos);
  // Cut in the data: the tensors no longer fit the buffer.
  const std::string msg = error_of("in-data", good.substr(0, good.size() - 2));
  EXPECT_NE(msg.find("tensor 'b'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reach past the 9-byte data buffer"), std::string::npos) << msg;
}

TEST_F(Safetensors, HeaderLengthLargerThanTheFileOrAbsurd) {
  const std::string big = error_of("big", st_bytes(kGood, std::string(11, 'x'), 5000));
  EXPECT_NE(big.find("header length 5000 but only"), std::string::npos) << big;
  const std::string absurd = error_of("absurd", st_bytes(kGood, "", int64_t{1} << 62));
  EXPECT_NE(absurd.find("exceeds the 100000000-byte maximum"), std::string::npos) << absurd;
}

TEST_F(Safetensors, BadJson) {
  EXPECT_NE(error_of("json", st_bytes(R"({"a": {"dtype": "F32",)", "")).find("header is not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("array", st_bytes("[1, 2]    ", "")).find("header is not a JSON object"), std::string::npos);
  EXPECT_NE(error_of("meta", st_bytes(R"({"__metadata__": {"k": 3}})", "")).find("__metadata__ value of 'k'"),
            std::string::npos);
}

TEST_F(Safetensors, BadEntriesNameTheTensor) {
  struct Case {
    const char* name;
    std::string header;
    size_t buffer;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"dtype", R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4, "tensor 't': unsupported dtype 'F16'"},
      {"size", R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20,
       "tensor 't': F32(2,3) needs 24 bytes but data_offsets [0, 20] hold 20"},
      {"overflow", R"({"t":{"dtype":"I64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8,
       "needs more than 2^64 bytes"},
      {"range", R"({"t":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})", 8,
       "tensor 't': data_offsets [4, 12] reach past the 8-byte data buffer"},
      {"reversed", R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}})", 8, "end before they begin"},
      {"negative", R"({"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1, "non-negative integer"},
      {"missing", R"({"t":{"dtype":"U8","shape":[1]}})", 1, "needs dtype, shape and data_offsets"},
      {"extra", R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1, "unexpected key 'x'"},
      {"overlap",
       R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6,
       "tensor 'b': data_offsets [2, 6] overlap tensor 'a' [0, 4]"},
      {"gap",
       R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})", 6,
       "tensor 'b': data_offsets [4, 6] leave a gap of 2"},
      {"trailing", R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 5,
       "the tensors cover 2 bytes of the 5-byte data buffer (3 trailing bytes)"},
      {"duplicate",
       R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4,
       "tensor 'a' appears twice"},
      // Found by fuzz_safetensors: an empty name was read, then refused by write_safetensors.
      {"empty_name", R"({"":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 2, "a tensor has an empty name"},
  };
  for (const Case& c : cases) {
    const std::string msg = error_of(c.name, st_bytes(c.header, std::string(c.buffer, '\0')));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
  }
}

TEST_F(Safetensors, MissingFileAndDirectory) {
  const std::string missing = dir_ + "/none.safetensors";
  try {
    read_safetensors(missing);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open: No such file or directory");
  }
  EXPECT_THROW(read_safetensors(dir_), InputError);
}

TEST_F(Safetensors, FailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  // A file-size limit makes the write fail part way (EFBIG), as a full disk would (ENOSPC).
  const std::string path = dir_ + "/model.safetensors";
  write_safetensors(path, {{"w", Tensor::full({4}, 2.0f)}}, {{"v", "1"}});
  const std::string before = read_bytes(path);

  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg;
  try {
    write_safetensors(path, {{"big", Tensor::full({100000}, 1.0f)}}, {});
  } catch (const InputError& e) {
    msg = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_EQ(msg, path + ": write failed: File too large");
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(getpid())));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), std::filesystem::directory_iterator()), 1);
}

TEST_F(Safetensors, UnwritableLocation) {
  const std::string nowhere = dir_ + "/no/such/dir/model.safetensors";
  try {
    write_safetensors(nowhere, {{"w", Tensor::full({1}, 1.0f)}}, {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(nowhere + ": cannot write: No such file or directory", 0), 0u) << e.what();
  }

  if (geteuid() == 0) GTEST_SKIP() << "running as root: a read-only folder is still writable";
  const std::string path = dir_ + "/model.safetensors";
  write_safetensors(path, {{"w", Tensor::full({4}, 2.0f)}}, {});
  const std::string before = read_bytes(path);
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  EXPECT_THROW(write_safetensors(path, {{"w", Tensor::full({4}, 3.0f)}}, {}), InputError);
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
  EXPECT_EQ(read_bytes(path), before);
}
