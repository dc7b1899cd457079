// The ONNX graph of every zoo model and activation, read back through the protobuf classes: opset,
// the normalization as the first nodes, weights under their state_dict names, every node input
// defined before use, the module-type table covering the zoo. The numbers are checked against
// OpenCV and PyTorch by tests/cli/export_*.sh.
#include <set>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "common/testing.h"
#include "cvtrain/interop/onnx_export.h"
#include "cvtrain/nn/zoo.h"

namespace cvtrain::interop {
namespace {

nn::ModelSpec small_spec(const std::string& name, const std::string& activation = "relu") {
  nn::ModelSpec s;
  s.name = name;
  s.in_channels = 1, s.height = 16, s.width = 16, s.num_classes = 5;
  s.activation.name = activation;
  s.depth = 2, s.hidden_width = 32;
  s.channels = {8, 16};
  s.stage_convs = 1;
  for (const nn::ModelEntry& e : nn::model_registry())  // the ImageNet ResNets at their smallest input
    if (e.name == name && e.min_size > s.height) s.height = s.width = e.min_size;
  return s;
}

onnx::ModelProto export_parsed(nn::Module& model, const nn::ModelSpec& spec, bool fold = false) {
  OnnxExportOptions o;
  o.C = spec.in_channels, o.H = spec.height, o.W = spec.width;
  o.norm = {{0.25f}, {0.5f}};
  o.activation = spec.activation;
  o.fold_batchnorm = fold;
  model.eval();
  onnx::ModelProto p;
  EXPECT_TRUE(p.ParseFromString(export_onnx(model, o)));
  return p;
}

// Every node's inputs are the graph input, an initializer or an earlier node's output.
void expect_well_formed(const onnx::ModelProto& p, const std::string& what) {
  std::set<std::string> defined = {"input"};
  for (const auto& t : p.graph().initializer()) EXPECT_TRUE(defined.insert(t.name()).second) << what << ": " << t.name();
  for (const auto& n : p.graph().node()) {
    for (const auto& in : n.input()) EXPECT_TRUE(defined.count(in)) << what << ": " << n.name() << " reads " << in;
    for (const auto& out : n.output()) EXPECT_TRUE(defined.insert(out).second) << what << ": " << out << " written twice";
  }
  ASSERT_GT(p.graph().node_size(), 0);
  EXPECT_EQ(p.graph().node(p.graph().node_size() - 1).output(0), "logits") << what;
}

TEST(OnnxExport, EveryZooModelExportsWithStateDictNames) {
  for (const nn::ModelEntry& e : nn::model_registry()) {
    SCOPED_TRACE(e.name);
    Rng rng(1);
    nn::ModelSpec spec = small_spec(e.name);
    auto model = nn::build_model(spec, rng);
    onnx::ModelProto p = export_parsed(*model, spec);
    ASSERT_EQ(p.opset_import_size(), 1);
    EXPECT_EQ(p.opset_import(0).version(), 13);
    EXPECT_EQ(p.graph().input(0).name(), "input");
    EXPECT_EQ(p.graph().output(0).type().tensor_type().shape().dim(1).dim_value(), 5);
    EXPECT_EQ(p.graph().node(0).op_type(), "Sub");
    EXPECT_EQ(p.graph().node(0).input(0), "input");
    EXPECT_EQ(p.graph().node(1).op_type(), "Div");
    expect_well_formed(p, e.name);
    // Every float tensor of the state_dict is an initializer of the same size under the same name.
    std::map<std::string, int64_t> init;
    for (const auto& t : p.graph().initializer()) {
      int64_t n = 1;
      for (int64_t d : t.dims()) n *= d;
      init[t.name()] = n;
    }
    for (auto& [name, t] : model->state_dict()) {
      if (t.dtype() != DType::f32) continue;
      ASSERT_TRUE(init.count(name)) << name;
      EXPECT_EQ(init[name], t.numel()) << name;
    }
  }
}

TEST(OnnxExport, EveryActivationHasItsNodes) {
  const std::map<std::string, std::string> expected = {
      {"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"leaky_relu", "LeakyRelu"}, {"prelu", "PRelu"},
      {"prelu_channel", "PRelu"}, {"elu", "Elu"}, {"selu", "Selu"}, {"gelu", "Erf"}, {"gelu_tanh", "Tanh"},
      {"silu", "Sigmoid"}};
  for (const nn::ActivationEntry& a : nn::activation_registry()) {
    ASSERT_TRUE(expected.count(a.name)) << "new activation " << a.name << ": add its ONNX nodes here";
    for (const char* model : {"resnet20", "mlp", "preact_resnet20"}) {
      SCOPED_TRACE(a.name + " in " + model);
      Rng rng(2);
      nn::ModelSpec spec = small_spec(model, a.name);
      auto m = nn::build_model(spec, rng);
      onnx::ModelProto p = export_parsed(*m, spec);
      expect_well_formed(p, a.name);
      int64_t count = 0;
      for (const auto& n : p.graph().node()) count += n.op_type() == expected.at(a.name);
      // resnet20: stem + 2 per block (9 blocks); the mlp: 2; preact: 2 per block + head
      EXPECT_GE(count, std::string(model) == "mlp" ? 2 : 19);
    }
  }
}

TEST(OnnxExport, FoldedBatchNormLeavesNoBatchNormalization) {
  Rng rng(3);
  nn::ModelSpec spec = small_spec("resnet20");
  auto model = nn::build_model(spec, rng);
  onnx::ModelProto p = export_parsed(*model, spec, /*fold=*/true);
  expect_well_formed(p, "folded");
  for (const auto& n : p.graph().node()) EXPECT_NE(n.op_type(), "BatchNormalization") << n.name();
}

TEST(OnnxExport, PcaPreprocessIsTheFirstNodes) {
  Rng rng(4);
  nn::ModelSpec spec = small_spec("mlp");
  spec.in_channels = 3, spec.height = 1, spec.width = 1;  // what a K=3 PCA projection gives the model
  auto model = nn::build_model(spec, rng);
  OnnxExportOptions o;
  o.C = 1, o.H = 2, o.W = 2;
  o.preprocess.mode = "pca";
  o.preprocess.components = 3;
  o.preprocess.C = 1, o.preprocess.H = 2, o.preprocess.W = 2;
  o.preprocess.mean = {0.1f, 0.2f, 0.3f, 0.4f};
  o.preprocess.matrix = std::vector<float>(12, 0.5f);
  model->eval();
  onnx::ModelProto p;
  ASSERT_TRUE(p.ParseFromString(export_onnx(*model, o)));
  expect_well_formed(p, "pca");
  std::vector<std::string> ops;
  for (int i = 0; i < 4; ++i) ops.push_back(p.graph().node(i).op_type());
  EXPECT_EQ(ops, (std::vector<std::string>{"Flatten", "Sub", "Gemm", "Reshape"}));
}

TEST(OnnxExport, RuleTableCoversTheActivationTypes) {
  std::set<std::string> types;
  for (const OnnxRuleInfo& r : onnx_rule_list()) EXPECT_TRUE(types.insert(r.module_type).second) << r.module_type;
  for (const nn::ActivationEntry& a : nn::activation_registry()) {
    auto m = nn::make_activation({a.name}, 4);
    EXPECT_TRUE(types.count(m->type())) << m->type();
  }
}

TEST(OnnxExport, UnknownModuleIsAnInputErrorNamingIt) {
  class Odd : public nn::Module {
   public:
    Odd() : Module("Odd") {}
    Variable forward(Context&, const Variable& x) override { return x; }
  };
  Odd odd;
  odd.eval();
  OnnxExportOptions o;
  o.norm = {{0.5f}, {0.5f}};
  try {
    export_onnx(odd, o);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("type Odd has no ONNX rule"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cvtrain::interop
