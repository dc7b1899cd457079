// The zoo's models against the PyTorch anchor classes: state_dict names, dtypes and shapes in
// order (tests/fixtures/zoo_names.txt) and repr() text (zoo_repr.txt), both by record_nn.py.
#include <fstream>
#include <sstream>
#include <tuple>

#include "common/testing.h"
#include "cvtrain/nn/flops.h"
#include "cvtrain/nn/zoo.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

struct Entry {
  std::string key, dtype;
  Shape shape;
};

// zoo_names.txt lines: `model key dtype ndim d0 .. d{ndim-1}`
std::vector<Entry> anchor_state_dict(const std::string& model) {
  std::ifstream in(std::string(CVTRAIN_FIXTURES) + "/zoo_names.txt");
  EXPECT_TRUE(in.good()) << "missing fixture zoo_names.txt";
  std::vector<Entry> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string m;
    Entry e;
    int64_t nd;
    ls >> m >> e.key >> e.dtype >> nd;
    e.shape.resize(nd);
    for (auto& d : e.shape) ls >> d;
    EXPECT_TRUE(bool(ls)) << line;
    if (m == model) out.push_back(e);
  }
  return out;
}

// zoo_repr.txt: `== model` then the repr lines
std::string anchor_repr(const std::string& model) {
  std::ifstream in(std::string(CVTRAIN_FIXTURES) + "/zoo_repr.txt");
  EXPECT_TRUE(in.good()) << "missing fixture zoo_repr.txt";
  std::string line, out;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("== ", 0) == 0) {
      inside = line == "== " + model;
      continue;
    }
    if (inside) out += (out.empty() ? "" : "\n") + line;
  }
  return out;
}

void expect_same_state_dict(const std::string& name, nn::Module& model) {
  std::vector<Entry> want = anchor_state_dict(name);
  nn::StateDict got = model.state_dict();
  ASSERT_EQ(got.size(), want.size()) << name;
  ASSERT_FALSE(want.empty());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].key) << name << " entry " << i;
    EXPECT_EQ(got[i].second.shape(), want[i].shape) << want[i].key;
    EXPECT_EQ(dtype_name(got[i].second.dtype()), want[i].dtype) << want[i].key;
  }
}

void expect_matches_anchor(const std::string& name) {
  Rng rng(0);
  auto model = nn::build_model({name}, rng);
  expect_same_state_dict(name, *model);
  EXPECT_EQ(model->describe(), anchor_repr(name));
}

}  // namespace

TEST(Zoo, MlpMatchesAnchorClass) { expect_matches_anchor("mlp"); }
TEST(Zoo, CnnMatchesAnchorClass) { expect_matches_anchor("cnn"); }
TEST(Zoo, ResNet20MatchesAnchorClass) { expect_matches_anchor("resnet20"); }

TEST(Zoo, ImageNetResNetsMatchTorchvision) {
  // torchvision.models.resnet{18,34,50}(): 3 channels, 1000 classes; parameters and multiply-adds at
  // 3x224x224 from PyTorch (forward hooks as in MultiplyAddsMatchPyTorchHooks)
  const std::vector<std::tuple<std::string, int64_t, int64_t>> want = {
      {"resnet18", 11689512, 1814073344}, {"resnet34", 21797672, 3663761408}, {"resnet50", 25557032, 4089184256}};
  for (const auto& [name, parameters, macs] : want) {
    Rng rng(0);
    auto model = nn::build_model({name, 3, 224, 224, 1000}, rng);
    expect_same_state_dict(name, *model);
    EXPECT_EQ(nn::parameter_count(*model), parameters) << name;
    EXPECT_EQ(nn::multiply_adds(*model, {3, 224, 224}), macs) << name;
  }
}

TEST(Zoo, ImageNetResNetsTakeAnySizeFrom32AndRefuseSmaller) {
  Rng rng(0);
  Context ctx;
  auto model = nn::build_model({"resnet18", 1, 33, 47, 5}, rng);  // one channel, odd sizes
  EXPECT_EQ(model->forward(ctx, Variable(random_tensor({2, 1, 33, 47}, 3))).shape(), (Shape{2, 5}));
  try {
    nn::build_model({"resnet50", 3, 28, 28, 10}, rng);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("resnet50 needs images of at least 32x32, got 28x28"), std::string::npos) << e.what();
  }
}

TEST(Zoo, ParameterCountsMatchPyTorch) {
  Rng rng(0);
  // sum(p.numel() for p in MLP().parameters()), and for CNN
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"mlp"}, rng)), 535818);
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"cnn"}, rng)), 421738);
}

TEST(Zoo, RegistryListsEveryModel) {
  std::vector<std::string> names;
  for (const auto& e : nn::model_registry()) {
    names.push_back(e.name);
    EXPECT_FALSE(std::string(e.description).empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"mlp", "cnn", "deep_mlp", "resnet20", "resnet32", "resnet56", "resnet110",
                                             "preact_resnet20", "wrn_16_4", "wrn_28_10", "resnet18_small", "resnet18",
                                             "resnet34", "resnet50", "lenet5", "vgg", "resnet_stack"}));
}

TEST(Zoo, UnknownModelAndBadSpecAreInputErrors) {
  Rng rng(0);
  try {
    nn::build_model({"resnet9000"}, rng);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "model.name: unknown model 'resnet9000' (known: mlp, cnn, deep_mlp, resnet20, resnet32, resnet56, "
                 "resnet110, preact_resnet20, wrn_16_4, wrn_28_10, resnet18_small, resnet18, resnet34, resnet50, lenet5, "
                 "vgg, resnet_stack)");
  }
  nn::ModelSpec spec{"cnn"};
  spec.dropout = 1.5f;
  EXPECT_THROW(nn::build_model(spec, rng), InputError);
  spec = {"cnn"};
  spec.height = 3;
  EXPECT_THROW(nn::build_model(spec, rng), InputError);
  spec = {"mlp"};
  spec.num_classes = 0;
  EXPECT_THROW(nn::build_model(spec, rng), InputError);
}

TEST(Zoo, SpecSetsShapesAndDropout) {
  Rng rng(0);
  nn::ModelSpec spec{"cnn", 3, 32, 30, 100, 0.1f};
  auto model = nn::build_model(spec, rng);
  auto sd = model->state_dict();
  EXPECT_EQ(sd.front().second.shape(), (Shape{32, 3, 3, 3}));          // net.0.weight
  EXPECT_EQ(sd[sd.size() - 4].second.shape(), (Shape{128, 64 * 8 * 7}));  // net.9.weight
  EXPECT_EQ(sd.back().second.shape(), (Shape{100}));                     // net.12.bias
  EXPECT_NE(model->describe().find("Dropout(p=0.1, inplace=False)"), std::string::npos);

  Context ctx;
  Variable y = model->forward(ctx, Variable(random_tensor({2, 3, 32, 30}, 1)));
  EXPECT_EQ(y.shape(), (Shape{2, 100}));
}

TEST(Zoo, ForwardGivesLogits) {
  Rng rng(0);
  Context ctx;
  for (const char* name : {"mlp", "cnn"}) {
    auto model = nn::build_model({name}, rng);
    EXPECT_EQ(model->forward(ctx, Variable(random_tensor({3, 1, 28, 28}, 2))).shape(), (Shape{3, 10})) << name;
  }
}

TEST(Zoo, MultiplyAddsMatchPyTorchHooks) {
  Rng rng(0);
  // forward hooks on torch.nn.Conv2d (output numel x weight[0] numel) and Linear (weight numel) of
  // the anchor classes at 1x28x28; resnet110 is ResNet20(n=18)
  EXPECT_EQ(nn::multiply_adds(*nn::build_model({"mlp"}, rng), {1, 28, 28}), 535040);
  EXPECT_EQ(nn::multiply_adds(*nn::build_model({"cnn"}, rng), {1, 28, 28}), 4241152);
  EXPECT_EQ(nn::multiply_adds(*nn::build_model({"resnet20"}, rng), {1, 28, 28}), 31021952);
  EXPECT_EQ(nn::multiply_adds(*nn::build_model({"resnet110"}, rng), {1, 28, 28}), 193592192);
  EXPECT_EQ(nn::multiply_adds(*nn::build_model({"wrn_16_4"}, rng), {1, 28, 28}), 300368640);
  EXPECT_EQ(nn::multiply_adds(*nn::build_model({"lenet5"}, rng), {1, 28, 28}), 416520);
  EXPECT_EQ(nn::multiply_adds(*nn::build_model({"vgg"}, rng), {1, 28, 28}), 117241856);  // 117600+240000+58920
  // a larger input: each conv's cost scales with its output area
  nn::ModelSpec spec{"cnn", 3, 32, 32};
  int64_t want = 32 * 32 * 32 * 27 + 64 * 16 * 16 * 32 * 9 + 64 * 8 * 8 * 128 + 128 * 10;
  EXPECT_EQ(nn::multiply_adds(*nn::build_model(spec, rng), {3, 32, 32}), want);
}

TEST(Zoo, VggWidthsAndDepthFromTheSpec) {
  Rng rng(0);
  Context ctx;
  // torch.nn twin: 3 stages x 2 [Conv2d(3x3, pad 1), BatchNorm2d, ReLU] + MaxPool2d(2) at 64, 128,
  // 256; Flatten, Linear(256*3*3, 512), ReLU, Dropout, Linear(512, 10): 2331338 parameters
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"vgg"}, rng)), 2331338);
  nn::ModelSpec spec{"vgg"};
  spec.channels = {8, 16};
  spec.stage_convs = 3;
  auto model = nn::build_model(spec, rng);
  // 2 stages x 3 x (conv, BN, act) + 2 pools + flatten, fc, act, dropout, fc
  EXPECT_EQ(model->children()[0].second->children().size(), 2u * 3 * 3 + 2 + 5);
  EXPECT_EQ(model->forward(ctx, Variable(random_tensor({2, 1, 28, 28}, 9))).shape(), (Shape{2, 10}));
  for (const std::vector<int64_t>& bad : std::vector<std::vector<int64_t>>{{}, {0}, {8, 5000}, {8, 16, 32, 64, 128}}) {
    spec.channels = bad;
    EXPECT_THROW(nn::build_model(spec, rng), InputError) << bad.size();
  }
}
