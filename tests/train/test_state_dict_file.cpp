// A state_dict from elsewhere (train/transfer.h load_state_dict_file): torchvision resnet18/50 weights
// written under PyTorch's names without metadata, as torch would save them, read back into a fresh
// model give the logits PyTorch recorded (tests/fixtures/torchvision_logits.txt); DataParallel
// "module." names and a file without num_batches_tracked load; every missing, unexpected and
// mis-shaped tensor is named in one InputError.
#include <unistd.h>

#include <filesystem>

#include "common/testing.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/tensor/safetensors.h"
#include "cvtrain/train/transfer.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

namespace fs = std::filesystem;

class StateDictFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cvtrain_state_dict_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::shared_ptr<nn::Module> make(const std::string& name, uint64_t seed) {
    Rng rng(seed);
    auto model = nn::build_model({name, 3, 64, 64, 7}, rng);
    model->eval();
    return model;
  }
  // The formula state_dict of `name` under PyTorch's names, each with `prefix`, without the entries
  // whose name contains `drop` (when given).
  static nn::StateDict formula_state(const std::string& name, const std::string& prefix = "",
                                     const std::string& drop = "") {
    nn::StateDict state = make(name, 1)->state_dict();
    fill_formula_state(state);
    nn::StateDict out;
    for (auto& [key, t] : state)
      if (drop.empty() || key.find(drop) == std::string::npos) out.emplace_back(prefix + key, t.clone());
    return out;
  }
  static Tensor logits(nn::Module& model) {
    Context ctx;
    NoGradGuard no_grad(ctx);
    return model.forward(ctx, Variable(formula_input({2, 3, 64, 64}))).data().contiguous();
  }

  fs::path dir_;
};


}  // namespace

TEST_F(StateDictFile, TorchNamedWeightsGivePyTorchsLogits) {
  const auto want = load_fixture("torchvision_logits");
  for (const char* name : {"resnet18", "resnet50"}) {
    write_safetensors(path("plain.safetensors"), formula_state(name), {});
    auto model = make(name, 2);
    load_state_dict_file(*model, path("plain.safetensors"));
    EXPECT_LT(relative_max_diff(logits(*model), want.at(name)), 1e-4) << name;
  }
}

TEST_F(StateDictFile, DataParallelNamesAndNoBatchCounters) {
  const auto want = load_fixture("torchvision_logits");
  write_safetensors(path("dp.safetensors"), formula_state("resnet18", "module.", "num_batches_tracked"), {});
  auto model = make("resnet18", 3);
  load_state_dict_file(*model, path("dp.safetensors"));
  EXPECT_LT(relative_max_diff(logits(*model), want.at("resnet18")), 1e-4);
}

TEST_F(StateDictFile, EveryBadTensorNamedInOneMessage) {
  nn::StateDict state = formula_state("resnet18");
  nn::StateDict bad;
  for (auto& [key, t] : state) {
    if (key == "layer1.0.conv1.weight" || key == "layer3.1.bn2.bias") continue;  // missing
    if (key == "fc.weight") bad.emplace_back(key, Tensor::zeros({10, 512}));       // mis-shaped
    else bad.emplace_back(key, t);
  }
  bad.emplace_back("layer5.0.conv1.weight", Tensor::zeros({3}));  // unexpected
  write_safetensors(path("bad.safetensors"), bad, {});
  auto model = make("resnet18", 4);
  try {
    load_state_dict_file(*model, path("bad.safetensors"));
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    for (const char* part : {"bad.safetensors", "layer1.0.conv1.weight", "layer3.1.bn2.bias", "layer5.0.conv1.weight",
                             "fc.weight: f32(10,512) given, f32(7,512) in the model"})
      EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
  }
  EXPECT_THROW(load_state_dict_file(*model, path("nothing.safetensors")), InputError);
}
