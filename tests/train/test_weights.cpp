// Damaged model files, as predict and export read them (train/weights.h): a broken header, a wrong
// dtype or shape, truncated data, a NaN weight, a missing or extra tensor. Each must be an InputError
// naming the file and, where one is at fault, the tensor; never a crash or a read past the buffer.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/testing.h"
#include "cvtrain/train/weights.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/tensor/safetensors.h"
#include "cvtrain/train/model_file.h"

namespace cvtrain {
namespace {

namespace fs = std::filesystem;

class DamagedModelFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cvtrain_weights_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "model.safetensors").string();
    model_ = make();
    save_model_file(path_, *model_, {{"config", "model:\n  name: cnn\n"}});
    std::ifstream in(path_, std::ios::binary);
    bytes_.assign(std::istreambuf_iterator<char>(in), {});
    uint64_t n = 0;
    std::memcpy(&n, bytes_.data(), 8);
    header_ = bytes_.substr(8, n);
    data_ = bytes_.substr(8 + n);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::shared_ptr<nn::Module> make() {
    Rng rng(5);
    nn::ModelSpec s;
    s.name = "cnn";
    return nn::build_model(s, rng);
  }
  // Writes a file with this header (length prefix recomputed) and data.
  void write(const std::string& header, const std::string& data) {
    uint64_t n = header.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << out << header << data;
  }
  void write_raw(const std::string& bytes) { std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes; }
  static std::string replace(std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  }
  // Reading and loading into a fresh model fails with a message containing every `parts`.
  void expect_error(const std::vector<std::string>& parts, const std::string& target = "") {
    try {
      WeightsFile w = read_weights(target.empty() ? path_ : target);
      auto m = make();
      load_weights(*m, w);
      FAIL() << "no error";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    }
  }

  fs::path dir_;
  std::string path_, bytes_, header_, data_;
  std::shared_ptr<nn::Module> model_;
};

TEST_F(DamagedModelFile, IntactFileLoads) {
  WeightsFile w = read_weights(dir_.string());  // a run folder: its model.safetensors
  EXPECT_FALSE(w.checkpoint);
  auto m = make();
  load_weights(*m, w);
  EXPECT_TRUE(testing::all_close(m->state_dict()[0].second, model_->state_dict()[0].second, 0, 0));
}

TEST_F(DamagedModelFile, HeaderLengthBeyondTheFile) {
  std::string b = bytes_;
  b[5] = 0x7f;  // a header length of ~2^47
  write_raw(b);
  expect_error({path_, "header length"});
}

TEST_F(DamagedModelFile, HeaderNotJson) {
  write(replace(header_, "{", "["), data_);
  expect_error({path_, "JSON"});
}

TEST_F(DamagedModelFile, TruncatedHeader) {
  write_raw(bytes_.substr(0, 8 + header_.size() / 2));
  expect_error({path_, "truncated"});
}

TEST_F(DamagedModelFile, TruncatedData) {
  write_raw(bytes_.substr(0, bytes_.size() - 100));
  expect_error({path_, "net.12.weight", "reach past"});  // its data_offsets now reach past the buffer
}

TEST_F(DamagedModelFile, WrongDtypeSameBytes) {
  // net.0.weight as I32: the same byte count, so only the model's expectation catches it.
  std::string h = header_;
  const size_t at = h.find("\"net.0.weight\"");
  ASSERT_NE(at, std::string::npos);
  h.replace(h.find("F32", at), 3, "I32");
  write(h, data_);
  expect_error({path_, "net.0.weight"});
}

TEST_F(DamagedModelFile, UnknownDtype) {
  std::string h = header_;
  h.replace(h.find("F32", h.find("\"net.4.weight\"")), 3, "F99");
  write(h, data_);
  expect_error({path_, "net.4.weight", "F99"});
}

TEST_F(DamagedModelFile, WrongShapeSameBytes) {
  write(replace(header_, "\"shape\":[32,1,3,3]", "\"shape\":[16,2,3,3]"), data_);
  expect_error({path_, "net.0.weight"});
}

TEST_F(DamagedModelFile, ShapeDisagreesWithOffsets) {
  write(replace(header_, "\"shape\":[32,1,3,3]", "\"shape\":[32,1,3,4]"), data_);
  expect_error({path_, "net.0.weight", "bytes"});
}

TEST_F(DamagedModelFile, MissingTensor) {
  auto m = make();
  nn::StateDict sd = m->state_dict();
  sd.erase(sd.begin() + 1);  // net.1.weight
  write_safetensors(path_, sd, {{"config", "x"}});
  expect_error({path_, "net.1.weight"});
}

TEST_F(DamagedModelFile, NanWeight) {
  auto m = make();
  m->state_dict()[2].second.data<float>()[7] = std::numeric_limits<float>::quiet_NaN();  // net.1.bias
  save_model_file(path_, *m, {{"config", "x"}});
  expect_error({path_, "net.1.bias", "non-finite"});
}

TEST_F(DamagedModelFile, NoConfigIsNotAModelFile) {
  save_model_file(path_, *model_, {});
  expect_error({path_, "config"});
}

TEST_F(DamagedModelFile, EmptyFolder) {
  fs::remove(path_);
  expect_error({dir_.string(), "neither a model.safetensors nor"}, dir_.string());
}

}  // namespace
}  // namespace cvtrain
