// Layers: PyTorch's default initialization (bounds and variance of U(-1/sqrt(fan_in), 1/sqrt(fan_in))),
// parameter and buffer names, describe() strings, and forward through the ops.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/nn/layers.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

struct Stats {
  double mean, var, max_abs;
};

Stats stats(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  double s = 0, s2 = 0, m = 0;
  for (float x : v) s += x, s2 += double(x) * x, m = std::max(m, double(std::fabs(x)));
  double n = double(v.size()), mean = s / n;
  return {mean, s2 / n - mean * mean, m};
}

// U(-b, b): all within b, the largest close to b, mean ~0, variance b^2/3.
void expect_uniform(const Tensor& t, double b, const char* what) {
  Stats st = stats(t);
  double n = double(t.numel());
  EXPECT_LE(st.max_abs, b * (1.0 + 1e-6)) << what;  // b itself is rounded to f32
  EXPECT_GT(st.max_abs, b * (1.0 - 20.0 / n)) << what;
  EXPECT_LT(std::fabs(st.mean), 4.0 * b / std::sqrt(3.0 * n)) << what;
  // sd of the sample variance of U(-b,b) is b^2 sqrt(4/45/n); allow 5 of them
  EXPECT_NEAR(st.var, b * b / 3.0, 5.0 * b * b * std::sqrt(4.0 / 45.0 / n)) << what;
}

}  // namespace

TEST(Init, LinearIsPyTorchDefault) {
  Rng rng(1);
  nn::Linear fc(rng, 784, 512);
  EXPECT_EQ(fc.weight.shape(), (Shape{512, 784}));
  EXPECT_EQ(fc.bias.shape(), (Shape{512}));
  expect_uniform(fc.weight.data(), 1.0 / 28.0, "weight");
  expect_uniform(fc.bias.data(), 1.0 / 28.0, "bias");
}

TEST(Init, ConvFanInCountsGroupsAndKernel) {
  Rng rng(2);
  nn::Conv2d conv(rng, nn::Conv2dOptions(32, 64, 3).padding(1).groups(2));  // fan_in = 32/2*3*3 = 144
  EXPECT_EQ(conv.weight.shape(), (Shape{64, 16, 3, 3}));
  expect_uniform(conv.weight.data(), 1.0 / 12.0, "weight");
  expect_uniform(conv.bias.data(), 1.0 / 12.0, "bias");
}

TEST(Init, SameSeedSameWeights) {
  Rng r1(7), r2(7), r3(8);
  nn::Linear a(r1, 20, 10), b(r2, 20, 10), c(r3, 20, 10);
  EXPECT_TRUE(all_close(a.weight.data(), b.weight.data(), 0, 0));
  EXPECT_FALSE(all_close(a.weight.data(), c.weight.data(), 0, 0));
  EXPECT_FALSE(all_close(a.weight.data().slice(0, 0, 5), a.weight.data().slice(0, 5, 10), 0, 0));
}

TEST(Init, BatchNormStartsAsIdentity) {
  nn::BatchNorm2d bn(8);
  EXPECT_EQ(bn.weight.data().to_vector(), std::vector<float>(8, 1.0f));
  EXPECT_EQ(bn.bias.data().to_vector(), std::vector<float>(8, 0.0f));
  EXPECT_EQ(bn.running_mean.to_vector(), std::vector<float>(8, 0.0f));
  EXPECT_EQ(bn.running_var.to_vector(), std::vector<float>(8, 1.0f));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::i64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.num_batches_tracked.data<int64_t>()[0], 0);
}

TEST(Layers, NamesAndNoBias) {
  Rng rng(3);
  nn::Conv2d conv(rng, nn::Conv2dOptions(3, 4, 3).padding(1).bias(false));
  EXPECT_FALSE(conv.bias.defined());
  ASSERT_EQ(conv.named_parameters().size(), 1u);
  EXPECT_EQ(conv.named_parameters()[0].first, "weight");
  nn::BatchNorm2d bn(4);
  std::vector<std::string> names;
  for (auto& [k, t] : bn.state_dict()) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
}

TEST(Layers, DescribeLikePyTorch) {
  Rng rng(4);
  EXPECT_EQ(nn::Linear(rng, 3, 2, false).describe(), "Linear(in_features=3, out_features=2, bias=False)");
  EXPECT_EQ(nn::Conv2d(rng, nn::Conv2dOptions(4, 8, 3).stride(2).padding(1).dilation(2).groups(4)).describe(),
            "Conv2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=4)");
  EXPECT_EQ(nn::MaxPool2d(3, 2, 1).describe(), "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)");
  EXPECT_EQ(nn::Dropout(0.25f).describe(), "Dropout(p=0.25, inplace=False)");
  EXPECT_EQ(nn::ReLU().describe(), "ReLU()");
}

TEST(Layers, LinearForwardIsXWtPlusB) {
  Rng rng(5);
  Context ctx;
  nn::Linear fc(rng, 3, 2);
  Tensor x = random_tensor({4, 3}, 9);
  Tensor y = fc.forward(ctx, Variable(x)).data();
  ASSERT_EQ(y.shape(), (Shape{4, 2}));
  auto xv = x.to_vector(), w = fc.weight.data().to_vector(), b = fc.bias.data().to_vector();
  std::vector<float> expect(8);
  for (int n = 0; n < 4; ++n)
    for (int o = 0; o < 2; ++o) {
      double s = b[o];
      for (int i = 0; i < 3; ++i) s += double(xv[n * 3 + i]) * w[o * 3 + i];
      expect[n * 2 + o] = float(s);
    }
  EXPECT_TRUE(all_close(y, Tensor::from_vector(expect, {4, 2})));
}

TEST(Layers, SequentialNamesChildrenByIndexAndChains) {
  Rng rng(6);
  Context ctx;
  nn::Sequential seq;
  seq.add(std::make_shared<nn::Flatten>());
  auto fc = seq.add(std::make_shared<nn::Linear>(rng, 12, 5));
  seq.add(std::make_shared<nn::ReLU>());
  std::vector<std::string> names;
  for (auto& [k, v] : seq.named_parameters()) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"1.weight", "1.bias"}));
  Tensor y = seq.forward(ctx, Variable(random_tensor({2, 3, 2, 2}, 1))).data();
  ASSERT_EQ(y.shape(), (Shape{2, 5}));
  for (float v : y.to_vector()) EXPECT_GE(v, 0.0f);
  EXPECT_EQ(fc->describe(), "Linear(in_features=12, out_features=5, bias=True)");
}

TEST(Layers, BatchNormCountsTrainingBatchesOnly) {
  Context ctx;
  nn::BatchNorm2d bn(3);
  Variable x(random_tensor({2, 3, 4, 4}, 3));
  bn.forward(ctx, x);
  bn.forward(ctx, x);
  EXPECT_EQ(bn.num_batches_tracked.data<int64_t>()[0], 2);
  EXPECT_FALSE(all_close(bn.running_mean, Tensor::zeros({3}), 0, 0));  // updated in place
  bn.eval();
  bn.forward(ctx, x);
  EXPECT_EQ(bn.num_batches_tracked.data<int64_t>()[0], 2);
}

TEST(Layers, ConvAndPoolShapes) {
  Rng rng(8);
  Context ctx;
  nn::Conv2d conv(rng, nn::Conv2dOptions(3, 6, 3).stride(2).padding(1));
  nn::MaxPool2d pool(2);
  Variable y = conv.forward(ctx, Variable(random_tensor({2, 3, 9, 9}, 4)));
  EXPECT_EQ(y.shape(), (Shape{2, 6, 5, 5}));
  EXPECT_EQ(pool.forward(ctx, y).shape(), (Shape{2, 6, 2, 2}));
}

TEST(Layers, DropoutIsIdentityInEval) {
  Context ctx;
  nn::Dropout drop(0.5f);
  drop.eval();
  Tensor x = random_tensor({4, 5}, 2);
  EXPECT_TRUE(all_close(drop.forward(ctx, Variable(x)).data(), x, 0, 0));
  drop.train();
  int zeros = 0;
  for (float v : drop.forward(ctx, Variable(x)).data().to_vector()) zeros += v == 0.0f;
  EXPECT_GT(zeros, 0);
}
