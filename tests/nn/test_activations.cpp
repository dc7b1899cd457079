// Activation modules and the model.activation table: reprs as torch.nn prints them, PReLU's
// parameter, bad names and parameters as InputErrors, and the zoo built with each activation.
#include "common/testing.h"
#include "cvtrain/nn/activations.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/zoo.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(Activations, DescribeLikePyTorch) {
  EXPECT_EQ(nn::Sigmoid().describe(), "Sigmoid()");
  EXPECT_EQ(nn::Tanh().describe(), "Tanh()");
  EXPECT_EQ(nn::LeakyReLU(0.01f).describe(), "LeakyReLU(negative_slope=0.01)");
  EXPECT_EQ(nn::PReLU(16).describe(), "PReLU(num_parameters=16)");
  EXPECT_EQ(nn::ELU(1.0f).describe(), "ELU(alpha=1.0)");
  EXPECT_EQ(nn::SELU().describe(), "SELU()");
  EXPECT_EQ(nn::GELU(false).describe(), "GELU(approximate='none')");
  EXPECT_EQ(nn::GELU(true).describe(), "GELU(approximate='tanh')");
  EXPECT_EQ(nn::SiLU().describe(), "SiLU()");
}

TEST(Activations, PReluHasALearnedWeightInitializedToTheSlope) {
  nn::PReLU p(3, 0.25f);
  auto params = p.named_parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_EQ(params[0].second->data().to_vector(), (std::vector<float>{0.25f, 0.25f, 0.25f}));
  EXPECT_TRUE(params[0].second->requires_grad());
}

TEST(Activations, RegistryBuildsEveryName) {
  for (const auto& e : nn::activation_registry()) {
    SCOPED_TRACE(e.name);
    EXPECT_FALSE(e.description.empty());
    auto m = nn::make_activation({e.name, -1.0, 1.0}, 4);
    EXPECT_TRUE(nn::is_activation_type(m->type()));
    Context ctx;
    Variable y = m->forward(ctx, Variable(random_tensor({2, 4}, 1)));
    EXPECT_EQ(y.shape(), (Shape{2, 4}));
  }
  EXPECT_EQ(nn::make_activation({"prelu_channel", -1.0, 1.0}, 7)->named_parameters()[0].second->numel(), 7);
  EXPECT_EQ(nn::make_activation({"prelu", 0.1, 1.0}, 7)->named_parameters()[0].second->data().to_vector(),
            (std::vector<float>{0.1f}));
  EXPECT_FALSE(nn::is_activation_type("Linear"));
}

TEST(Activations, BadNameOrParameterIsAnInputError) {
  try {
    nn::make_activation({"swishy", -1.0, 1.0}, 1);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.activation: unknown activation 'swishy'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("gelu_tanh"), std::string::npos);
  }
  EXPECT_THROW(nn::make_activation({"elu", -1.0, 0.0}, 1), InputError);
}

TEST(Activations, ZooDefaultIsTheReluModelAndOthersSwapOnlyTheActivation) {
  Rng r1(3), r2(3);
  nn::ModelSpec relu{"cnn"}, tanh{"cnn"};
  tanh.activation.name = "tanh";
  auto a = nn::build_model(relu, r1), b = nn::build_model(tanh, r2);
  auto sa = a->state_dict(), sb = b->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_EQ(sa[i].second.to_vector(), sb[i].second.to_vector()) << sa[i].first;  // same draws
  }
  EXPECT_EQ(a->describe().find("Tanh"), std::string::npos);
  EXPECT_NE(b->describe().find("(2): Tanh()"), std::string::npos);
  // per-channel PReLU adds a "net.2.weight" of 32 slopes after the first BatchNorm
  nn::ModelSpec prelu{"cnn"};
  prelu.activation.name = "prelu_channel";
  Rng r3(3);
  auto c = nn::build_model(prelu, r3);
  bool found = false;
  for (auto& [name, v] : c->named_parameters()) found = found || (name == "net.2.weight" && v->numel() == 32);
  EXPECT_TRUE(found);
}

TEST(Activations, DeepMlpHasDepthTimesWidth) {
  Rng rng(0);
  nn::ModelSpec spec{"deep_mlp"};
  spec.depth = 3;
  spec.hidden_width = 16;
  spec.activation.name = "tanh";
  auto m = nn::build_model(spec, rng);
  // 784*16+16, 2 x (16*16+16), 16*10+10
  EXPECT_EQ(nn::parameter_count(*m), 784 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 10 + 10);
  EXPECT_NE(m->describe().find("(6): Tanh()"), std::string::npos);
  spec.depth = 0;
  EXPECT_THROW(nn::build_model(spec, rng), InputError);
}
