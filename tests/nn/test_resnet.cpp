// The residual block and the CIFAR-style ResNets: shapes, the identity and projection shortcuts,
// parameter counts against PyTorch's ResNet20(n), zero_init_residual, and the lecture's claim that a
// stack of residual blocks grows its output variance block by block unless each branch starts at zero.
// Stochastic depth (model.drop_path): linear rates, evaluation unchanged, rate 0 exactly the plain
// block, per-sample drops with the 1/(1-p) scale, and a gradient check through a dropping block.
#include <cmath>
#include <functional>

#include "common/testing.h"
#include "cvtrain/nn/resnet.h"
#include "cvtrain/nn/zoo.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

double std_of(const Tensor& t) {
  const float* p = t.data<float>();
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += p[i], s2 += double(p[i]) * p[i];
  double m = s / t.numel();
  return std::sqrt(std::max(0.0, s2 / t.numel() - m * m));
}

}  // namespace

TEST(ResNet, BlockShapesAndShortcuts) {
  Rng rng(0);
  Context ctx;
  nn::BasicBlock same(rng, 16, 16, 1, {});
  EXPECT_EQ(same.sc, nullptr);
  EXPECT_EQ(same.forward(ctx, Variable(random_tensor({2, 16, 8, 8}, 1))).shape(), (Shape{2, 16, 8, 8}));
  nn::BasicBlock down(rng, 16, 32, 2, {});
  ASSERT_NE(down.sc, nullptr);
  EXPECT_EQ(down.forward(ctx, Variable(random_tensor({2, 16, 7, 7}, 1))).shape(), (Shape{2, 32, 4, 4}));
  std::vector<std::string> names;
  for (auto& [name, t] : down.state_dict()) names.push_back(name);
  EXPECT_EQ(names.front(), "c1.weight");
  EXPECT_EQ(names.back(), "sc.1.num_batches_tracked");
}

TEST(ResNet, ParameterCountsMatchPyTorch) {
  Rng rng(0);
  // sum(p.numel() for p in ResNet20(n).parameters()) for n = 3, 5, 9, 18
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"resnet20"}, rng)), 272186);
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"resnet32"}, rng)), 466618);
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"resnet56"}, rng)), 855482);
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"resnet110"}, rng)), 1730426);
}

TEST(ResNet, ForwardOnOtherShapes) {
  Rng rng(0);
  Context ctx;
  nn::ModelSpec spec{"resnet20", 3, 32, 32, 100};
  auto model = nn::build_model(spec, rng);
  EXPECT_EQ(model->forward(ctx, Variable(random_tensor({2, 3, 32, 32}, 3))).shape(), (Shape{2, 100}));
}

TEST(ResNet, ActivationWithParametersIsRegistered) {
  Rng rng(0);
  nn::ModelSpec spec{"resnet20"};
  spec.activation.name = "prelu";
  auto model = nn::build_model(spec, rng);
  bool found = false;
  for (auto& [name, v] : model->named_parameters()) found = found || name == "layers.0.act2.weight";
  EXPECT_TRUE(found);
  spec.activation.name = "tanh";  // parameter-free: the anchor's names
  auto plain = nn::build_model(spec, rng);
  EXPECT_EQ(plain->state_dict().size(), nn::build_model({"resnet20"}, rng)->state_dict().size());
}

TEST(ResNet, ZeroInitResidualMakesEachBlockTheIdentity) {
  Rng rng(0);
  nn::ModelSpec spec{"resnet20"};
  spec.zero_init_residual = true;
  auto model = nn::build_model(spec, rng);
  int zeroed = 0;
  for (auto& [name, v] : model->named_parameters()) {
    if (name.size() > 10 && name.compare(name.size() - 10, 10, ".b2.weight") == 0) {
      EXPECT_EQ(std_of(v->data()), 0.0) << name;
      EXPECT_EQ(v->data().data<float>()[0], 0.0f) << name;
      ++zeroed;
    }
  }
  EXPECT_EQ(zeroed, 9);
  // an identity-shortcut block whose branch is zero passes relu(x) through
  Context ctx;
  nn::BasicBlock block(rng, 4, 4, 1, {});
  EXPECT_EQ(nn::zero_init_residual(block), 1);
  Tensor x = random_tensor({2, 4, 5, 5}, 4);
  Tensor y = block.forward(ctx, Variable(x)).data();
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(y.data<float>()[i], std::max(0.0f, x.data<float>()[i]));

  spec = {"cnn"};
  spec.zero_init_residual = true;
  EXPECT_THROW(nn::build_model(spec, rng), InputError);
}

// The lecture: with Kaiming init every block adds a branch of unit variance (after its BatchNorm),
// so the std of the residual stream grows block by block; zero-init branches keep it flat.
TEST(ResNet, ResidualStackVarianceGrowsUnlessZeroInit) {
  for (bool zero : {false, true}) {
    Rng rng(0);
    nn::ModelSpec spec{"resnet_stack"};
    spec.depth = 8;
    spec.init.scheme = "kaiming_normal";
    spec.zero_init_residual = zero;
    auto model = nn::build_model(spec, rng);
    Context ctx;
    auto& net = *model->children()[0].second;
    Variable h(random_tensor({8, 1, 12, 12}, 5));
    std::vector<double> stds;
    for (auto& [name, layer] : net.children()) {
      h = layer->forward(ctx, h);
      if (dynamic_cast<nn::BasicBlock*>(layer.get())) stds.push_back(std_of(h.data()));
    }
    ASSERT_EQ(stds.size(), 8u);
    if (zero) {
      EXPECT_NEAR(stds.back() / stds.front(), 1.0, 1e-5);
    } else {
      EXPECT_GT(stds.back() / stds.front(), 2.0);
      for (size_t i = 1; i < stds.size(); ++i) EXPECT_GT(stds[i], stds[i - 1]) << "block " << i;
    }
  }
}

TEST(ResNet, PreActivationAndWideResNets) {
  Rng rng(0);
  Context ctx;
  // a PyTorch twin of the same layers (BN-ReLU-conv blocks, 1x1 projection of the pre-activated
  // input, head BN): sum(p.numel()) 271994 (n 3, k 1) and 2748602 (n 2, k 4, WRN-16-4's 2.7M)
  EXPECT_EQ(nn::parameter_count(*nn::build_model({"preact_resnet20"}, rng)), 271994);
  nn::ModelSpec wrn{"wrn_16_4"};
  wrn.dropout = 0.3f;
  auto model = nn::build_model(wrn, rng);
  EXPECT_EQ(nn::parameter_count(*model), 2748602);
  EXPECT_NE(model->describe().find("(drop): Dropout(p=0.3, inplace=False)"), std::string::npos);
  EXPECT_EQ(model->forward(ctx, Variable(random_tensor({2, 1, 28, 28}, 6))).shape(), (Shape{2, 10}));
  // pre-activation blocks have no BatchNorm at the end of the branch to zero
  wrn.zero_init_residual = true;
  EXPECT_THROW(nn::build_model(wrn, rng), InputError);

  nn::PreActBlock down(rng, 8, 16, 2, {}, 0.0f);
  ASSERT_NE(down.sc, nullptr);
  EXPECT_EQ(down.drop, nullptr);
  EXPECT_EQ(down.forward(ctx, Variable(random_tensor({2, 8, 9, 9}, 7))).shape(), (Shape{2, 16, 5, 5}));
}

TEST(ResNet, LeNet5) {
  Rng rng(0);
  Context ctx;
  // conv 6*25+6, conv 16*150+16, fc 400*120+120, 120*84+84, 84*10+10
  auto model = nn::build_model({"lenet5"}, rng);
  EXPECT_EQ(nn::parameter_count(*model), 61706);
  EXPECT_EQ(model->forward(ctx, Variable(random_tensor({2, 1, 28, 28}, 8))).shape(), (Shape{2, 10}));
  nn::ModelSpec small{"lenet5", 1, 10, 28};
  EXPECT_THROW(nn::build_model(small, rng), InputError);
}

TEST(ResNet, DropPathRatesGrowLinearlyWithDepth) {
  Rng rng(0);
  auto model = nn::make_cifar_resnet(rng, 3, 1, 10, {});
  EXPECT_EQ(nn::set_drop_path(*model, 0.45f), 9);
  std::vector<float> rates;
  std::function<void(nn::Module&)> walk = [&](nn::Module& m) {
    if (auto* b = dynamic_cast<nn::BasicBlock*>(&m)) rates.push_back(b->drop_path);
    for (auto& [name, c] : m.children()) walk(*c);
  };
  walk(*model);
  ASSERT_EQ(rates.size(), 9u);
  for (int l = 1; l <= 9; ++l) EXPECT_FLOAT_EQ(rates[l - 1], 0.45f * l / 9) << l;
  nn::ModelSpec spec{"cnn"};
  spec.drop_path = 0.2f;
  EXPECT_THROW(nn::build_model(spec, rng), InputError);  // no residual block to drop
  spec = {"resnet20"};
  spec.drop_path = 1.0f;
  EXPECT_THROW(nn::build_model(spec, rng), InputError);
}

TEST(ResNet, DropPathLeavesEvaluationAndRateZeroUnchanged) {
  nn::ModelSpec plain{"resnet20"}, sd{"resnet20"}, zero{"resnet20"};
  sd.drop_path = 0.5f;
  Rng r1(3), r2(3), r3(3);
  auto a = nn::build_model(plain, r1), b = nn::build_model(sd, r2), c = nn::build_model(zero, r3);
  EXPECT_EQ(nn::set_drop_path(*c, 0.0f), 9);
  Tensor x = random_tensor({4, 1, 12, 12}, 7);
  // training: rate 0 is bit for bit the plain network and draws no random numbers
  Context ca(5), cc(5);
  EXPECT_EQ(a->forward(ca, Variable(x)).data().to_vector(), c->forward(cc, Variable(x)).data().to_vector());
  EXPECT_EQ(ca.rng.next_stream(), cc.rng.next_stream());
  // training with drops differs (which also moves the BatchNorm running statistics differently)
  Context cb(5);
  EXPECT_NE(a->forward(ca, Variable(x)).data().to_vector(), b->forward(cb, Variable(x)).data().to_vector());
  // evaluation is the full network: fresh models, identical to the plain one whatever the seed
  Rng r4(3), r5(3);
  auto a2 = nn::build_model(plain, r4), b2 = nn::build_model(sd, r5);
  a2->eval();
  b2->eval();
  Context e1(5), e2(6);
  EXPECT_EQ(a2->forward(e1, Variable(x)).data().to_vector(), b2->forward(e2, Variable(x)).data().to_vector());
}

TEST(ResNet, DropPathDropsWholeSamplesAndScalesTheKeptOnes) {
  // an identity-shortcut block: a dropped sample's output is relu(x_n); a kept one relu(x_n + r_n/(1-p))
  // with r the branch, which the plain block (rate 0, the same batch statistics) gives as relu(x + r).
  Rng rng(1);
  nn::BasicBlock block(rng, 4, 4, 1, {});
  const int64_t n = 400, per = 4 * 2 * 2;
  const float p = 0.3f;
  Tensor x = random_tensor({n, 4, 2, 2}, 8);
  Context plain_ctx(9);
  std::vector<float> plain = block.forward(plain_ctx, Variable(x)).data().to_vector();
  block.drop_path = p;
  Context ctx(9);
  std::vector<float> y = block.forward(ctx, Variable(x)).data().to_vector(), vx = x.to_vector();
  int64_t kept = 0;
  for (int64_t s = 0; s < n; ++s) {
    const bool keep = philox_uniform(9, 1, static_cast<uint64_t>(s)) >= p;  // the block's first stream
    kept += keep;
    bool all_relu = true;
    for (int64_t j = s * per; j < (s + 1) * per; ++j) {
      if (!keep) {
        ASSERT_EQ(y[j], std::max(0.0f, vx[j])) << s;
      }
      all_relu = all_relu && y[j] == std::max(0.0f, vx[j]);
      // where both are positive, the branch is scaled: y - x = (plain - x) / (1-p)
      if (keep && y[j] > 0.0f && plain[j] > 0.0f) {
        ASSERT_NEAR(y[j] - vx[j], (plain[j] - vx[j]) / (1.0f - p), 1e-4f) << s;
      }
    }
    if (keep) {
      EXPECT_FALSE(all_relu) << s;
    }
  }
  // Binomial(400, 0.7): sd ~ 9.2
  EXPECT_NEAR(static_cast<double>(kept), 0.7 * n, 5 * 9.2);
}

TEST(ResNet, DropPathGradientCheck) {
  Rng rng(2);
  auto block = std::make_shared<nn::BasicBlock>(rng, 3, 3, 1, nn::ActivationSpec{"tanh"});
  block->drop_path = 0.5f;
  // 6 samples: with seed 1234's stream, some are dropped and some kept (checked below)
  Context probe(1234);
  int dropped = 0;
  const uint64_t stream = probe.rng.next_stream();
  for (int s = 0; s < 6; ++s) dropped += philox_uniform(1234, stream, s) < 0.5f;
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, 6);
  EXPECT_TRUE(check_op_gradients(
      [block](Context& c, const std::vector<Variable>& in) { return block->forward(c, in[0]); },
      {random_tensor({6, 3, 3, 3}, 10)}, 1e-2f, 2e-2f, 2e-2f));
}
