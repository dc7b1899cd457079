// bf16 activations between layers (DnnlRuntime::bf16_activations, train.bf16_activations): what
// each kind of op does with a bf16 input. Convolutions write bf16 and take bf16 gradients; batch norm
// (+ add + ReLU) and channels-last max pooling keep bf16; every other op computes in f32 on the
// widened values (ops::as_f32) and hands back an f32 gradient that autograd rounds to the input's
// bf16. And whole zoo models, trained a step with bf16 activations, against the same models with f32
// activations (both with bf16 convolutions): the losses and gradients agree to bf16 accuracy.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/activation.h"
#include "cvtrain/ops/conv.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/ops/norm.h"
#include "cvtrain/ops/pool.h"
#include "cvtrain/ops/reduce.h"
#include "cvtrain/ops/shape.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

void bf16_runtime(Context& ctx, bool activations) {
  ctx.dnnl.set_bf16(true);
  ctx.dnnl.set_bf16_activations(activations);
  ctx.dnnl.set_channels_last(true);
}

// cosine of the angle between two tensors' values: gradients computed at bf16 accuracy point the
// same way (1 - cos ~ 1e-5) even where single elements near zero differ in relative terms
double cosine(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < x.size(); ++i) ab += double(x[i]) * y[i], aa += double(x[i]) * x[i], bb += double(y[i]) * y[i];
  return aa == 0 && bb == 0 ? 1.0 : ab / std::sqrt(aa * bb);
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  float m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

bool all_finite(const Tensor& t) {
  for (float v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

TEST(Bf16Activations, ConvolutionWritesBf16AndTakesBf16Gradients) {
  Tensor x = random_tensor({4, 16, 8, 8}, 1).channels_last(), w = random_tensor({32, 16, 3, 3}, 2, -0.2f, 0.2f);
  Tensor dy = random_tensor({4, 32, 8, 8}, 3);
  ops::Conv2dOptions opt;
  opt.pad_h = opt.pad_w = 1;
  Tensor y[2], dx[2], dw[2];
  for (int act = 0; act < 2; ++act) {
    Context ctx(1);
    bf16_runtime(ctx, act == 1);
    Variable xv(act ? x.to(DType::bf16) : x.to(DType::bf16).to(DType::f32), true), wv(w.clone(), true);
    Variable out = ops::conv2d(ctx, xv, wv, Variable(), opt);
    EXPECT_EQ(out.data().dtype(), act ? DType::bf16 : DType::f32);
    EXPECT_TRUE(out.data().is_strictly_channels_last());
    out.backward(act ? dy.to(DType::bf16) : dy.to(DType::bf16).to(DType::f32));
    EXPECT_EQ(xv.grad().dtype(), act ? DType::bf16 : DType::f32);  // a gradient has its variable's type
    EXPECT_EQ(wv.grad().dtype(), DType::f32);                      // master weights stay f32
    y[act] = out.data().to(DType::f32), dx[act] = xv.grad().to(DType::f32), dw[act] = wv.grad();
  }
  // the same inputs (bf16 values): bf16 output = the f32 output rounded once (oneDNN accumulates in f32)
  EXPECT_TRUE(all_close(y[1], y[0], 1e-2f, 8e-3f));
  EXPECT_TRUE(all_close(dx[1], dx[0], 1e-2f, 8e-3f));
  EXPECT_TRUE(all_close(dw[1], dw[0], 1e-3f, 1e-3f));
  EXPECT_GT(max_abs_diff(y[1], y[0]), 0.0f);  // really rounded: the paths differ
}

TEST(Bf16Activations, BatchNormReluAndMaxPoolKeepBf16) {
  Tensor x = random_tensor({4, 16, 6, 6}, 4).channels_last().to(DType::bf16);
  Tensor w0 = random_tensor({16}, 5, 0.5f, 1.5f), b0 = random_tensor({16}, 6);
  ops::BatchNormOptions bo;
  // batch norm + ReLU, then the global average: bf16 against the f32 op on the same values
  Tensor g[2], dx[2], dw[2], rm[2];
  for (int act = 0; act < 2; ++act) {
    Context ctx(1);
    bf16_runtime(ctx, act == 1);
    Variable xv(act ? x : x.to(DType::f32), true), w(w0.clone(), true), b(b0.clone(), true);
    rm[act] = Tensor::zeros({16});
    Tensor rv = Tensor::full({16}, 1.0f);
    Variable h = ops::batch_norm_add_relu(ctx, xv, w, b, rm[act], rv, bo, Variable(), true);
    EXPECT_EQ(h.data().dtype(), act ? DType::bf16 : DType::f32);
    Variable out = ops::global_avg_pool2d(ctx, h);  // reads bf16, writes f32
    EXPECT_EQ(out.data().dtype(), DType::f32);
    out.backward(random_tensor({4, 16}, 12));
    EXPECT_EQ(xv.grad().dtype(), act ? DType::bf16 : DType::f32);
    EXPECT_EQ(w.grad().dtype(), DType::f32);
    g[act] = out.data(), dx[act] = xv.grad().to(DType::f32), dw[act] = w.grad();
  }
  EXPECT_TRUE(all_close(g[1], g[0], 1e-2f, 1e-2f));
  EXPECT_TRUE(all_close(dx[1], dx[0], 2e-3f, 2e-2f));
  EXPECT_TRUE(all_close(dw[1], dw[0], 1e-2f, 1e-2f));
  EXPECT_EQ(max_abs_diff(rm[1], rm[0]), 0.0f);  // running statistics from the same values, in f32

  // channels-last max pooling of bf16: the f32 op's results on the widened values, rounded
  Context ctx(1);
  ops::Pool2dOptions po;
  po.kernel_h = po.kernel_w = po.stride_h = po.stride_w = 2;
  Variable xb(x, true), xf(x.to(DType::f32), true);
  Variable pb = ops::max_pool2d(ctx, xb, po), pf = ops::max_pool2d(ctx, xf, po);
  EXPECT_EQ(pb.data().dtype(), DType::bf16);
  EXPECT_TRUE(pb.data().is_strictly_channels_last());
  EXPECT_EQ(max_abs_diff(pb.data(), pf.data()), 0.0f);  // a maximum of bf16 values is one of them
  Tensor dy = random_tensor(pf.shape(), 13).to(DType::bf16);
  pb.backward(dy);
  pf.backward(dy.to(DType::f32));
  ASSERT_EQ(xb.grad().dtype(), DType::bf16);
  EXPECT_EQ(max_abs_diff(xb.grad(), xf.grad()), 0.0f);  // 2x2 windows do not overlap: dy moved as it is
}

// The residual add of two channels-last bf16 activations stays bf16: the f32 sum of the widened values
// rounded once, and the gradient handed to both operands as it came. Any other pairing computes in f32.
TEST(Bf16Activations, ResidualAddKeepsBf16) {
  Tensor a = random_tensor({3, 8, 5, 5}, 21).channels_last().to(DType::bf16);
  Tensor b = random_tensor({3, 8, 5, 5}, 22).channels_last().to(DType::bf16);
  Context ctx(1);
  Variable av(a, true), bv(b, true);
  Variable y = ops::add(ctx, av, bv);
  ASSERT_EQ(y.data().dtype(), DType::bf16);
  EXPECT_TRUE(y.data().is_strictly_channels_last());
  const std::vector<float> as = a.to_vector(), bs = b.to_vector(), ys = y.data().to_vector();
  for (size_t i = 0; i < ys.size(); ++i) ASSERT_EQ(ys[i], bf16_to_float(float_to_bf16(as[i] + bs[i]))) << i;
  Tensor dy = random_tensor({3, 8, 5, 5}, 23).channels_last().to(DType::bf16);
  y.backward(dy);
  ASSERT_EQ(av.grad().dtype(), DType::bf16);
  ASSERT_EQ(bv.grad().dtype(), DType::bf16);
  EXPECT_EQ(max_abs_diff(av.grad(), dy), 0.0f);
  EXPECT_EQ(max_abs_diff(bv.grad(), dy), 0.0f);
  EXPECT_NE(av.grad().data<bf16>(), bv.grad().data<bf16>());  // two tensors: each may be accumulated into

  Variable mixed = ops::add(ctx, Variable(a), Variable(b.to(DType::f32)));
  EXPECT_EQ(mixed.data().dtype(), DType::f32);
  Variable nchw = ops::add(ctx, Variable(a.contiguous()), Variable(b.contiguous()));
  EXPECT_EQ(nchw.data().dtype(), DType::f32);
}

TEST(Bf16Activations, OpsWithoutBf16KernelComputeInF32) {
  Tensor xb = random_tensor({3, 5, 4, 4}, 7).to(DType::bf16);
  Tensor dy = random_tensor({3, 5, 4, 4}, 8);
  Context ctx(1);
  Variable x(xb, true);
  Variable y = ops::sigmoid(ctx, x);  // no bf16 kernel: computed in f32 on the widened values
  EXPECT_EQ(y.data().dtype(), DType::f32);
  y.backward(dy);
  Variable xf(xb.to(DType::f32), true);
  Variable yf = ops::sigmoid(ctx, xf);
  yf.backward(dy);
  EXPECT_EQ(max_abs_diff(y.data(), yf.data()), 0.0f);  // the same f32 computation
  ASSERT_EQ(x.grad().dtype(), DType::bf16);
  EXPECT_EQ(max_abs_diff(x.grad().to(DType::f32), xf.grad().to(DType::bf16).to(DType::f32)), 0.0f);  // rounded once

  // two consumers: gradients are summed in the variable's type
  Variable x2(xb, true);
  Variable s = ops::sum(ctx, ops::sigmoid(ctx, x2), {}, false), t = ops::sum(ctx, ops::tanh(ctx, x2), {}, false);
  ops::sum(ctx, ops::concat(ctx, {ops::reshape(ctx, s, {1}), ops::reshape(ctx, t, {1})}, 0), {}, false).backward();
  Variable x3(xb.to(DType::f32), true);
  Variable s3 = ops::sum(ctx, ops::sigmoid(ctx, x3), {}, false), t3 = ops::sum(ctx, ops::tanh(ctx, x3), {}, false);
  ops::sum(ctx, ops::concat(ctx, {ops::reshape(ctx, s3, {1}), ops::reshape(ctx, t3, {1})}, 0), {}, false).backward();
  ASSERT_EQ(x2.grad().dtype(), DType::bf16);
  EXPECT_TRUE(all_close(x2.grad().to(DType::f32), x3.grad(), 1e-2f, 1e-2f));
}

TEST(Bf16Activations, ToDtypeRoundsForwardAndConvertsTheGradientBack) {
  Context ctx(1);
  Tensor x = random_tensor({2, 3, 4, 5}, 9).channels_last();
  Variable xv(x, true);
  Variable b = ops::to_dtype(ctx, xv, DType::bf16);
  EXPECT_EQ(b.data().dtype(), DType::bf16);
  EXPECT_TRUE(b.data().is_strictly_channels_last());  // the layout kept
  const std::vector<float> xs = x.to_vector(), bs = b.data().to_vector();
  for (size_t i = 0; i < xs.size(); ++i) ASSERT_EQ(bs[i], bf16_to_float(float_to_bf16(xs[i])));
  Tensor dy = random_tensor({2, 3, 4, 5}, 10).to(DType::bf16);
  b.backward(dy);
  EXPECT_EQ(xv.grad().dtype(), DType::f32);
  EXPECT_EQ(max_abs_diff(xv.grad(), dy.to(DType::f32)), 0.0f);
  EXPECT_EQ(ops::as_f32(ctx, xv).impl(), xv.impl());  // f32 passes through untouched
}

// Every convolutional zoo model, one training step and an evaluation forward, three ways: f32;
// bf16 convolutions with f32 activations; bf16 activations. The variants reach each op family (fused
// BN-ReLU, residual adds, stochastic depth, fractional and max pooling, other activations, no BN).
// Rounding the activations must cost about what bf16 convolutions already cost: the gradient of all
// parameters together (one vector) may turn from f32's by at most a few times the angle bf16
// convolutions turn it (deep nets at batch 8 on noise amplify rounding: ResNet-20's per-parameter
// cosines are ~0.9 for bf16 convolutions alone), and loss and evaluation logits stay close.
TEST(Bf16Activations, ZooModelsTrainLikeF32Activations) {
  struct Case {
    const char* name;
    std::function<void(nn::ModelSpec&)> tweak;
  };
  const std::vector<Case> cases = {
      {"cnn", [](nn::ModelSpec&) {}},
      {"cnn", [](nn::ModelSpec& s) { s.activation.name = "elu"; }},
      {"cnn", [](nn::ModelSpec& s) { s.pool = "fractional"; }},
      {"cnn", [](nn::ModelSpec& s) { s.batch_norm = false; }},
      {"resnet20", [](nn::ModelSpec&) {}},
      {"resnet20", [](nn::ModelSpec& s) { s.drop_path = 0.2f; }},
      {"preact_resnet20", [](nn::ModelSpec&) {}},
      {"lenet5", [](nn::ModelSpec&) {}},
      {"vgg", [](nn::ModelSpec& s) { s.channels = {16, 32}; s.activation.name = "leaky_relu"; }},
      {"resnet_stack", [](nn::ModelSpec& s) { s.depth = 2; }},
  };
  const int64_t B = 8;
  Tensor x = random_tensor({B, 1, 28, 28}, 1);
  Tensor labels = Tensor::empty({B}, DType::i64);
  for (int64_t i = 0; i < B; ++i) labels.data<int64_t>()[i] = (i * 3) % 10;
  for (const Case& c : cases) {
    nn::ModelSpec spec;
    spec.name = c.name;
    c.tweak(spec);
    SCOPED_TRACE(std::string(c.name) + " activation " + spec.activation.name + " pool " + spec.pool);
    float loss[3];
    Tensor eval_logits[3], grad[3];
    for (int mode = 0; mode < 3; ++mode) {  // f32, bf16 convolutions, bf16 activations
      Rng rng(11);
      auto model = nn::build_model(spec, rng);
      Context ctx(5);
      bf16_runtime(ctx, mode == 2);
      ctx.dnnl.set_bf16(mode > 0);
      Variable l = ops::cross_entropy(ctx, model->forward(ctx, Variable(x)), labels);
      l.backward();
      loss[mode] = l.item();
      std::vector<float> all;  // every parameter's gradient, one vector
      for (auto& [name, p] : model->named_parameters()) {
        ASSERT_TRUE(p->grad().defined()) << name;
        ASSERT_EQ(p->grad().dtype(), DType::f32) << name;
        const std::vector<float> g = p->grad().to_vector();
        all.insert(all.end(), g.begin(), g.end());
      }
      grad[mode] = Tensor::from_vector(all, {static_cast<int64_t>(all.size())});
      model->train(false);
      eval_logits[mode] = model->forward(ctx, Variable(x)).data().to_cpu();
    }
    EXPECT_TRUE(all_finite(grad[2]));
    EXPECT_NEAR(loss[2], loss[0], 0.02 * std::abs(loss[0]));
    EXPECT_TRUE(all_close(eval_logits[2], eval_logits[0], 5e-2f, 5e-2f));
    const double turn_conv = 1.0 - cosine(grad[1], grad[0]), turn_act = 1.0 - cosine(grad[2], grad[0]);
    EXPECT_LE(turn_act, 4.0 * turn_conv + 2e-3) << "1 - cos: bf16 convolutions " << turn_conv << ", bf16 activations "
                                                 << turn_act;
  }
}
