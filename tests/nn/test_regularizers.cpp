// The zoo's regularization switches and the larger models: DropConnect on the hidden fc layers
// (model.dropconnect), fractional max pooling as a layer and through model.pool (per-image sequences
// in training, fixed samplings averaged at evaluation), stochastic depth in pre-activation blocks
// (per sample and per batch), and ResNet-18 / WRN-28-10 shapes, names and parameter counts.
#include <cmath>
#include <functional>

#include "common/testing.h"
#include "cvtrain/nn/flops.h"
#include "cvtrain/nn/fractional_pool.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/resnet.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/elementwise.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {
std::vector<nn::Linear*> linears(nn::Module& m) {
  std::vector<nn::Linear*> out;
  std::function<void(nn::Module&)> walk = [&](nn::Module& x) {
    if (auto* l = dynamic_cast<nn::Linear*>(&x)) out.push_back(l);
    for (auto& [name, c] : x.children()) walk(*c);
  };
  walk(m);
  return out;
}
}  // namespace

TEST(DropConnectModel, HiddenFcLayersGetTheRateAndEvaluationIsThePlainModel) {
  nn::ModelSpec spec{"cnn"}, plain{"cnn"};
  spec.dropconnect = 0.3f;
  Rng r1(4), r2(4);
  auto model = nn::build_model(spec, r1), base = nn::build_model(plain, r2);
  std::vector<nn::Linear*> fc = linears(*model);
  ASSERT_EQ(fc.size(), 2u);
  EXPECT_EQ(fc[0]->dropconnect, 0.3f);
  EXPECT_EQ(fc[1]->dropconnect, 0.0f);  // not the classifier's output layer
  EXPECT_NE(model->describe().find("Linear(in_features=3136, out_features=128, bias=True, dropconnect=0.3)"),
            std::string::npos);
  nn::ModelSpec mlp{"mlp"};
  mlp.dropconnect = 0.5f;
  Rng r3(0);
  EXPECT_EQ(nn::set_dropconnect(*nn::build_model(mlp, r3), 0.5f), 2);
  Tensor x = random_tensor({4, 1, 28, 28}, 1);
  // evaluation: the full weights, bit for bit the model without DropConnect
  model->eval(), base->eval();
  Context a(1), b(1);
  EXPECT_EQ(model->forward(a, Variable(x)).data().to_vector(), base->forward(b, Variable(x)).data().to_vector());
  // training: masked weights differ from the plain model's (both with dropout 0 to isolate DropConnect)
  model->train(), base->train();
  nn::ModelSpec s2 = spec, p2 = plain;
  s2.dropout = p2.dropout = 0.0f;
  Rng r4(4), r5(4);
  auto m2 = nn::build_model(s2, r4), b2 = nn::build_model(p2, r5);
  Context c(2), d(2);
  EXPECT_NE(m2->forward(c, Variable(x)).data().to_vector(), b2->forward(d, Variable(x)).data().to_vector());
  // no hidden fc layer, or a bad rate: InputError
  nn::ModelSpec res{"resnet20"};
  res.dropconnect = 0.2f;
  EXPECT_THROW(nn::build_model(res, r1), InputError);
  spec.dropconnect = 1.0f;
  EXPECT_THROW(nn::build_model(spec, r1), InputError);
}

TEST(FractionalPoolLayer, PerImageSequencesInTrainingFixedSamplingsAtEvaluation) {
  nn::FractionalMaxPool2d fmp({1.414, true, ops::FmpSequence::random});
  EXPECT_EQ(fmp.out_size(28), 19);
  // a batch of one image repeated: in training the copies get different regions
  Tensor one = random_tensor({1, 2, 12, 12}, 3);
  Tensor x = Tensor::empty({4, 2, 12, 12});
  for (int64_t n = 0; n < 4; ++n) std::copy(one.data<float>(), one.data<float>() + 288, x.data<float>() + n * 288);
  Context ctx(5);
  std::vector<float> y = fmp.forward(ctx, Variable(x)).data().to_vector();
  const size_t per = 2 * 8 * 8;
  ASSERT_EQ(y.size(), 4 * per);
  EXPECT_NE(std::vector<float>(y.begin(), y.begin() + per), std::vector<float>(y.begin() + per, y.begin() + 2 * per));
  // evaluation: every copy alike, the same on every call and whatever the run's RNG; sampling k matters
  fmp.eval();
  Context e1(5), e2(99);
  std::vector<float> z = fmp.forward(e1, Variable(x)).data().to_vector();
  for (int64_t n = 1; n < 4; ++n)
    EXPECT_EQ(std::vector<float>(z.begin(), z.begin() + per), std::vector<float>(z.begin() + n * per, z.begin() + (n + 1) * per));
  EXPECT_EQ(z, fmp.forward(e2, Variable(x)).data().to_vector());
  EXPECT_EQ(e1.rng.next_stream(), 1u);  // evaluation drew no stream
  fmp.eval_sample = 1;
  EXPECT_NE(z, fmp.forward(e2, Variable(x)).data().to_vector());
}

TEST(FractionalPoolLayer, CnnWithFractionalPoolingAveragesSamplingsAtEvaluation) {
  nn::ModelSpec spec{"cnn"};
  spec.pool = "fractional";
  spec.fmp_test_samples = 3;
  Rng rng(0);
  auto model = nn::build_model(spec, rng);
  // 28 -> 19 -> 13 with ratio sqrt(2): the fc layer takes 64*13*13
  EXPECT_EQ(linears(*model)[0]->weight.shape(), (Shape{128, 64 * 13 * 13}));
  EXPECT_GT(nn::multiply_adds(*model, {1, 28, 28}), 0);
  Tensor x = random_tensor({2, 1, 28, 28}, 2);
  Context ctx(1);
  EXPECT_EQ(model->forward(ctx, Variable(x)).shape(), (Shape{2, 10}));
  model->eval();
  Variable avg = model->forward(ctx, Variable(x));
  // the average equals the mean of the samplings run one by one
  auto& net = *model->children().front().second;
  std::vector<nn::FractionalMaxPool2d*> layers;
  std::function<void(nn::Module&)> walk = [&](nn::Module& m) {
    if (auto* f = dynamic_cast<nn::FractionalMaxPool2d*>(&m)) layers.push_back(f);
    for (auto& [name, c] : m.children()) walk(*c);
  };
  walk(net);
  ASSERT_EQ(layers.size(), 2u);
  std::vector<double> mean(20, 0.0);
  std::vector<float> first;
  for (int64_t k = 0; k < 3; ++k) {
    for (auto* f : layers) f->eval_sample = k;
    std::vector<float> yk = net.forward(ctx, Variable(x)).data().to_vector();
    if (k == 0) first = yk;
    for (size_t i = 0; i < 20; ++i) mean[i] += yk[i] / 3.0;
  }
  std::vector<float> va = avg.data().to_vector();
  for (size_t i = 0; i < 20; ++i) EXPECT_NEAR(va[i], mean[i], 1e-5) << i;
  EXPECT_NE(va, first);
  // other pooled models and bad options
  for (const char* name : {"vgg", "lenet5"}) {
    nn::ModelSpec s{name};
    s.pool = "fractional";
    s.fmp_sequence = "pseudo_random";
    s.fmp_overlapping = false;
    EXPECT_EQ(nn::build_model(s, rng)->forward(ctx, Variable(x)).shape(), (Shape{2, 10})) << name;
  }
  nn::ModelSpec bad{"resnet20"};
  bad.pool = "fractional";
  EXPECT_THROW(nn::build_model(bad, rng), InputError);
  bad = {"cnn"};
  bad.fmp_ratio = 2.0;
  bad.pool = "fractional";
  EXPECT_THROW(nn::build_model(bad, rng), InputError);
  bad = {"cnn"};
  bad.pool = "average";
  EXPECT_THROW(nn::build_model(bad, rng), InputError);
}

TEST(StochasticDepth, PreActivationModelsGetLinearRates) {
  Rng rng(0);
  auto model = nn::build_model({"preact_resnet20"}, rng);
  EXPECT_EQ(nn::set_drop_path(*model, 0.3f, true), 9);
  std::vector<float> rates;
  std::function<void(nn::Module&)> walk = [&](nn::Module& m) {
    if (auto* b = dynamic_cast<nn::PreActBlock*>(&m)) {
      rates.push_back(b->drop_path);
      EXPECT_TRUE(b->drop_path_per_batch);
    }
    for (auto& [name, c] : m.children()) walk(*c);
  };
  walk(*model);
  ASSERT_EQ(rates.size(), 9u);
  for (int l = 1; l <= 9; ++l) EXPECT_FLOAT_EQ(rates[l - 1], 0.3f * l / 9) << l;
  nn::ModelSpec wrn{"wrn_16_4"};
  wrn.drop_path = 0.2f;
  wrn.drop_path_mode = "batch";
  EXPECT_NO_THROW(nn::build_model(wrn, rng));
  wrn.drop_path_mode = "layer";
  EXPECT_THROW(nn::build_model(wrn, rng), InputError);
}

TEST(StochasticDepth, PreActBlockPerSamplePerBatchAndEvaluation) {
  // identity shortcut: a dropped sample's output is x itself, a kept one x + branch/(1-p)
  Rng rng(1);
  nn::PreActBlock block(rng, 3, 3, 1, {}, 0.0f);
  const float p = 0.4f;
  Tensor x = random_tensor({64, 3, 2, 2}, 2);
  const int64_t per = 12;
  Context plain_ctx(7);
  std::vector<float> plain = block.forward(plain_ctx, Variable(x)).data().to_vector(), vx = x.to_vector();
  block.drop_path = p;
  Context ctx(7);
  std::vector<float> y = block.forward(ctx, Variable(x)).data().to_vector();
  int kept = 0;
  for (int64_t s = 0; s < 64; ++s) {
    const bool keep = philox_uniform(7, 1, static_cast<uint64_t>(s)) >= p;
    kept += keep;
    for (int64_t j = s * per; j < (s + 1) * per; ++j) {
      if (keep) {
        ASSERT_NEAR(y[j] - vx[j], (plain[j] - vx[j]) / (1 - p), 1e-5f) << s;
      } else {
        ASSERT_EQ(y[j], vx[j]) << s;
      }
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 64);
  // per batch: all samples dropped together (then x itself) or all kept; about 1-p of the batches kept
  block.drop_path_per_batch = true;
  Context bctx(3);
  int batches_kept = 0;
  for (int t = 0; t < 200; ++t) {
    std::vector<float> yb = block.forward(bctx, Variable(x)).data().to_vector();
    if (yb == vx) continue;
    ++batches_kept;
    for (size_t j = 0; j < yb.size(); ++j) ASSERT_NEAR(yb[j] - vx[j], (plain[j] - vx[j]) / (1 - p), 1e-5f) << j;
  }
  EXPECT_NEAR(batches_kept, 120, 5 * std::sqrt(200 * 0.4 * 0.6));
  // evaluation: the full block (the same as with rate 0), no draws
  block.eval();
  Context ectx(7);
  std::vector<float> full = block.forward(ectx, Variable(x)).data().to_vector();
  EXPECT_EQ(ectx.rng.next_stream(), 1u);
  block.drop_path = 0.0f;
  EXPECT_EQ(full, block.forward(ectx, Variable(x)).data().to_vector());
}

TEST(StochasticDepth, PreActBlockGradientCheck) {
  Rng rng(2);
  auto block = std::make_shared<nn::PreActBlock>(rng, 3, 3, 1, nn::ActivationSpec{"tanh"}, 0.0f);
  block->drop_path = 0.5f;
  EXPECT_TRUE(check_op_gradients(
      [block](Context& c, const std::vector<Variable>& in) { return block->forward(c, in[0]); },
      {random_tensor({6, 3, 3, 3}, 10)}, 1e-2f, 2e-2f, 2e-2f));
}

TEST(LargeModels, ResNet18SmallForSmallImages) {
  Rng rng(0);
  auto model = nn::build_model({"resnet18_small"}, rng);
  // torchvision resnet18 (11689512) with a 3x3 1-channel stem (576 for 9408) and 10 classes (5130 for 513000)
  EXPECT_EQ(nn::parameter_count(*model), 11689512 - 9408 + 576 - 513000 + 5130);
  std::vector<std::string> names;
  for (auto& [name, t] : model->state_dict()) names.push_back(name);
  EXPECT_EQ(names.front(), "conv1.weight");
  EXPECT_EQ(names[1], "bn1.weight");
  EXPECT_NE(std::find(names.begin(), names.end(), "layer1.0.conv1.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "layer2.0.downsample.0.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "layer4.1.bn2.running_var"), names.end());
  EXPECT_EQ(names.back(), "fc.bias");
  Context ctx(1);
  Variable x(random_tensor({2, 1, 8, 8}, 1), true);
  Variable y = model->forward(ctx, x);
  ASSERT_EQ(y.shape(), (Shape{2, 10}));
  y.backward(Tensor::full(y.shape(), 1.0f));
  EXPECT_EQ(x.grad().shape(), (Shape{2, 1, 8, 8}));
  nn::ModelSpec sd{"resnet18_small"};
  sd.drop_path = 0.1f;
  sd.zero_init_residual = true;
  EXPECT_NO_THROW(nn::build_model(sd, rng));
}

TEST(LargeModels, WideResNet28x10) {
  Rng rng(0);
  auto model = nn::build_model({"wrn_28_10"}, rng);
  // the WRN-28-10 of Zagoruyko & Komodakis on CIFAR-10 has 36479194 parameters; a 1-channel stem has 288 fewer
  EXPECT_EQ(nn::parameter_count(*model), 36479194 - 288);
  Context ctx(1);
  Variable x(random_tensor({2, 1, 8, 8}, 1), true);
  Variable y = model->forward(ctx, x);
  ASSERT_EQ(y.shape(), (Shape{2, 10}));
  y.backward(Tensor::full(y.shape(), 1.0f));
  EXPECT_EQ(x.grad().shape(), (Shape{2, 1, 8, 8}));
}
