// Channels-last activations: the Tensor's memory format, every op that gained an NHWC path
// held against its NCHW result (values and gradients) and by finite differences, the fused
// batch_norm_add_relu against the composition it replaces (both layouts, training and evaluation),
// and a ResNet-20 forward+backward in both layouts.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/activation.h"
#include "cvtrain/ops/conv.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/ops/norm.h"
#include "cvtrain/ops/pool.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

// A differentiable change of memory format (the gradient goes back to NCHW), for feeding the NHWC
// paths from NCHW test inputs.
Variable to_cl(Context& ctx, const Variable& x) {
  return record(ctx, "to_channels_last", x.data().channels_last(), {x},
                [](const Tensor& dy) -> Grads { return {dy.contiguous()}; });
}
Variable to_nchw(Context& ctx, const Variable& x) {
  return record(ctx, "to_nchw", x.data().contiguous(), {x},
                [](const Tensor& dy) -> Grads { return {dy.channels_last()}; });
}

using Fn = std::function<Variable(Context&, const std::vector<Variable>&)>;

// f run on NCHW inputs, then on channels-last copies with the runtime's channels-last switch on:
// the outputs, and every input's gradient for a random upstream gradient, must agree; the
// channels-last output must really be channels-last when `expect_cl`.
void expect_layouts_agree(const Fn& f, const std::vector<Tensor>& inputs, bool expect_cl, float atol = 1e-5f,
                          float rtol = 1e-4f) {
  Tensor out[2];
  std::vector<Tensor> grads[2];
  for (int cl = 0; cl < 2; ++cl) {
    Context ctx(7);
    ctx.dnnl.set_channels_last(cl == 1);
    std::vector<Variable> vars;
    for (const Tensor& t : inputs) vars.emplace_back(cl && t.dim() == 4 ? t.channels_last() : t.clone(), true);
    Variable y = f(ctx, vars);
    if (cl && expect_cl) {
      EXPECT_TRUE(y.data().is_strictly_channels_last()) << "output " << y.data().describe();
    }
    if (!cl) {
      EXPECT_TRUE(y.data().is_contiguous());
    }
    y.backward(random_tensor(y.shape(), 5));
    out[cl] = y.data();
    for (const Variable& v : vars) grads[cl].push_back(v.grad());
  }
  EXPECT_TRUE(all_close(out[1].contiguous(), out[0], atol, rtol));
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE("gradient of input " + std::to_string(i));
    ASSERT_TRUE(grads[0][i].defined() && grads[1][i].defined());
    EXPECT_TRUE(all_close(grads[1][i].contiguous(), grads[0][i], atol, rtol));
  }
}

ops::Conv2dOptions conv_opt(int64_t stride, int64_t pad) {
  ops::Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_h = o.pad_w = pad;
  return o;
}

}  // namespace

TEST(ChannelsLast, TensorFormat) {
  Tensor x = random_tensor({2, 3, 4, 5}, 1);
  Tensor c = x.channels_last();
  EXPECT_TRUE(c.is_channels_last() && c.is_strictly_channels_last() && c.is_dense() && !c.is_contiguous());
  EXPECT_EQ(c.strides(), (Shape{60, 1, 15, 3}));
  EXPECT_EQ(c.to_vector(), x.to_vector());  // same logical values
  EXPECT_EQ(c.data<float>()[1], x.data<float>()[20]);  // memory: (n,h,w,c): element (0,1,0,0)
  EXPECT_TRUE(c.clone().is_strictly_channels_last());
  EXPECT_TRUE(c.new_empty_like().is_strictly_channels_last());
  EXPECT_TRUE(c.contiguous().is_contiguous());
  EXPECT_EQ(c.contiguous().to_vector(), x.to_vector());
  EXPECT_EQ(c.reshape({2, 60}).to_vector(), x.reshape({2, 60}).to_vector());  // reshape goes through NCHW
  // (N,1,H,W) and (N,C,1,1) are both layouts at once: kernels may treat them as NCHW
  EXPECT_TRUE(random_tensor({2, 1, 3, 3}, 2).is_channels_last());
  EXPECT_FALSE(random_tensor({2, 1, 3, 3}, 2).is_strictly_channels_last());
  EXPECT_FALSE(x.is_channels_last());
  EXPECT_FALSE(random_tensor({6, 5}, 3).is_channels_last());
}

TEST(ChannelsLast, Conv2dMatchesNCHW) {
  Tensor w = random_tensor({8, 4, 3, 3}, 2), b = random_tensor({8}, 3);
  for (int64_t stride : {1, 2}) {
    SCOPED_TRACE("stride " + std::to_string(stride));
    expect_layouts_agree([&](Context& c, const std::vector<Variable>& in) {
      return ops::conv2d(c, in[0], in[1], in[2], conv_opt(stride, 1));
    }, {random_tensor({3, 4, 9, 9}, 1), w, b}, true);
  }
  // NCHW input into a channels-last runtime (the first layer): channels-last output
  expect_layouts_agree([&](Context& c, const std::vector<Variable>& in) {
    return ops::conv2d(c, in[0], in[1], in[2], conv_opt(1, 1));
  }, {random_tensor({3, 1, 9, 9}, 4), random_tensor({8, 1, 3, 3}, 5), b}, true);
  // Winograd's shapes (3x3 stride 1, 64 channels and more when channels-last) go through blocked
  // reorders from NHWC; 16 channels in and out run on the NHWC buffer seen as nChw16c
  expect_layouts_agree([&](Context& c, const std::vector<Variable>& in) {
    return ops::conv2d(c, in[0], in[1], Variable(), conv_opt(1, 1));
  }, {random_tensor({2, 64, 6, 6}, 6), random_tensor({64, 64, 3, 3}, 7, -0.05f, 0.05f)}, true, 2e-5f, 1e-4f);
  expect_layouts_agree([&](Context& c, const std::vector<Variable>& in) {
    return ops::conv2d(c, in[0], in[1], Variable(), conv_opt(1, 1));
  }, {random_tensor({2, 16, 6, 6}, 8), random_tensor({16, 16, 3, 3}, 9)}, true);
}

TEST(ChannelsLast, BatchNormMatchesNCHW) {
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "evaluation");
    expect_layouts_agree([training](Context& c, const std::vector<Variable>& in) {
      Tensor rm = random_tensor({5}, 40), rv = random_tensor({5}, 41, 0.5f, 2.0f);
      ops::BatchNormOptions opt;
      opt.training = training;
      return ops::batch_norm(c, in[0], in[1], in[2], rm, rv, opt);
    }, {random_tensor({4, 5, 3, 7}, 1, -1.0f, 3.0f), random_tensor({5}, 2), random_tensor({5}, 3)}, true);
  }
}

TEST(ChannelsLast, PointwiseOpsMatchNCHW) {
  Tensor a = random_tensor({3, 5, 4, 6}, 1), b = random_tensor({3, 5, 4, 6}, 2);
  expect_layouts_agree([](Context& c, const std::vector<Variable>& in) { return ops::relu(c, in[0]); }, {a}, true);
  expect_layouts_agree([](Context& c, const std::vector<Variable>& in) { return ops::add(c, in[0], in[1]); }, {a, b},
                       true);
  expect_layouts_agree([](Context& c, const std::vector<Variable>& in) { return ops::mul(c, in[0], in[1]); }, {a, b},
                       true);
  expect_layouts_agree([](Context& c, const std::vector<Variable>& in) { return ops::mul_scalar(c, in[0], 0.5f); },
                       {a}, true);
  // the other pointwise activations (prelu, whose weight follows the channel, takes NCHW)
  const std::vector<std::function<Variable(Context&, const Variable&)>> acts{
      [](Context& c, const Variable& v) { return ops::sigmoid(c, v); },
      [](Context& c, const Variable& v) { return ops::tanh(c, v); },
      [](Context& c, const Variable& v) { return ops::leaky_relu(c, v, 0.1f); },
      [](Context& c, const Variable& v) { return ops::elu(c, v, 1.0f); },
      [](Context& c, const Variable& v) { return ops::gelu(c, v, false); },
      [](Context& c, const Variable& v) { return ops::silu(c, v); }};
  for (const auto& act : acts)
    expect_layouts_agree([&](Context& c, const std::vector<Variable>& in) { return act(c, in[0]); }, {a}, true);
  // mixed layouts: NCHW output, right values
  expect_layouts_agree([](Context& c, const std::vector<Variable>& in) {
    return ops::add(c, in[0], to_nchw(c, in[1]));
  }, {a, b}, false);
}

TEST(ChannelsLast, PoolingMatchesNCHW) {
  Tensor x = random_tensor({3, 5, 8, 7}, 1);
  for (auto [k, s, p] : {std::tuple{2, 2, 0}, {3, 2, 1}, {3, 1, 1}}) {
    ops::Pool2dOptions o;
    o.kernel_h = o.kernel_w = k;
    o.stride_h = o.stride_w = s;
    o.pad_h = o.pad_w = p;
    expect_layouts_agree([o](Context& c, const std::vector<Variable>& in) { return ops::max_pool2d(c, in[0], o); },
                         {x}, true);
  }
  expect_layouts_agree([](Context& c, const std::vector<Variable>& in) { return ops::global_avg_pool2d(c, in[0]); },
                       {x}, false);
}

TEST(ChannelsLast, GradientsMatchFiniteDifferences) {
  // each NHWC path fed through to_cl, so the finite differences perturb NCHW inputs
  auto cl = [](Context& c, const Variable& v) {
    c.dnnl.set_channels_last(true);
    return to_cl(c, v);
  };
  EXPECT_TRUE(check_op_gradients([&](Context& c, const std::vector<Variable>& in) {
    return ops::conv2d(c, cl(c, in[0]), in[1], Variable(), conv_opt(2, 1));
  }, {random_tensor({2, 3, 5, 5}, 1), random_tensor({4, 3, 3, 3}, 2)}));
  EXPECT_TRUE(check_op_gradients([&](Context& c, const std::vector<Variable>& in) {
    Tensor rm = random_tensor({3}, 40), rv = random_tensor({3}, 41, 0.5f, 2.0f);
    return ops::batch_norm(c, cl(c, in[0]), in[1], in[2], rm, rv, ops::BatchNormOptions{});
  }, {random_tensor({4, 3, 3, 2}, 1, -1.0f, 2.0f), random_tensor({3}, 2, 0.5f, 1.5f), random_tensor({3}, 3)}, 1e-2f,
      5e-3f, 3e-2f));
  ops::Pool2dOptions o;
  o.kernel_h = o.kernel_w = 3;
  o.stride_h = o.stride_w = 2;
  o.pad_h = o.pad_w = 1;
  EXPECT_TRUE(check_op_gradients([&](Context& c, const std::vector<Variable>& in) {
    return ops::max_pool2d(c, cl(c, in[0]), o);
  }, {random_tensor({2, 3, 5, 5}, 4)}, 1e-3f));  // a small step: no window's maximum changes hands
  EXPECT_TRUE(check_op_gradients([&](Context& c, const std::vector<Variable>& in) {
    return ops::global_avg_pool2d(c, cl(c, in[0]));
  }, {random_tensor({2, 3, 4, 5}, 5)}));
  EXPECT_TRUE(check_op_gradients([&](Context& c, const std::vector<Variable>& in) {
    return ops::relu(c, ops::add(c, cl(c, in[0]), cl(c, in[1])));
  }, {random_tensor({2, 3, 4, 5}, 6), random_tensor({2, 3, 4, 5}, 7)}, 1e-3f));  // small step: off relu's kink
}

// ---- batch_norm_add_relu ------------------------------------------------------------------------

namespace {

Variable fused_or_composed(Context& c, const std::vector<Variable>& in, bool fused, bool training, bool residual,
                           bool relu) {
  const int64_t C = in[0].shape()[1];
  Tensor rm = random_tensor({C}, 40), rv = random_tensor({C}, 41, 0.5f, 2.0f);
  ops::BatchNormOptions opt;
  opt.training = training;
  const Variable r = residual ? in[3] : Variable();
  if (fused) return ops::batch_norm_add_relu(c, in[0], in[1], in[2], rm, rv, opt, r, relu);
  Variable y = ops::batch_norm(c, in[0], in[1], in[2], rm, rv, opt);
  if (residual) y = ops::add(c, y, r);
  return relu ? ops::relu(c, y) : y;
}

}  // namespace

TEST(BatchNormAddRelu, EqualsTheComposition) {
  const Shape shape{4, 6, 5, 3};
  const std::vector<Tensor> inputs{random_tensor(shape, 1, -1.0f, 2.0f), random_tensor({6}, 2, 0.5f, 1.5f),
                                   random_tensor({6}, 3), random_tensor(shape, 4)};
  for (bool cl : {false, true})
    for (bool training : {true, false})
      for (bool residual : {true, false})
        for (bool relu : {true, false}) {
          SCOPED_TRACE(::testing::Message() << "channels_last " << cl << " training " << training << " residual "
                                            << residual << " relu " << relu);
          Tensor out[2], rm_after[2];
          std::vector<Tensor> grads[2];
          for (int fused = 0; fused < 2; ++fused) {
            Context ctx(3);
            std::vector<Variable> vars;
            for (const Tensor& t : inputs) vars.emplace_back(cl && t.dim() == 4 ? t.channels_last() : t.clone(), true);
            Variable y = fused_or_composed(ctx, vars, fused == 1, training, residual, relu);
            EXPECT_EQ(y.data().is_strictly_channels_last(), cl);
            y.backward(random_tensor(shape, 9));
            out[fused] = y.data().contiguous();
            for (const Variable& v : vars) grads[fused].push_back(v.grad());
          }
          EXPECT_TRUE(all_close(out[1], out[0], 1e-5f, 1e-5f));
          for (size_t i = 0; i < (residual ? 4u : 3u); ++i) {
            SCOPED_TRACE("gradient of input " + std::to_string(i));
            EXPECT_TRUE(all_close(grads[1][i].contiguous(), grads[0][i].contiguous(), 1e-5f, 1e-4f));
          }
        }
}

TEST(BatchNormAddRelu, RunningStatisticsAsBatchNorm) {
  Tensor x = random_tensor({8, 4, 3, 3}, 1, 1.0f, 4.0f);
  Tensor rm[2] = {Tensor::zeros({4}), Tensor::zeros({4})}, rv[2] = {Tensor::full({4}, 1.0f), Tensor::full({4}, 1.0f)};
  Context ctx;
  ops::batch_norm(ctx, Variable(x), Variable(), Variable(), rm[0], rv[0], ops::BatchNormOptions{});
  ops::batch_norm_add_relu(ctx, Variable(x.channels_last()), Variable(), Variable(), rm[1], rv[1],
                           ops::BatchNormOptions{}, Variable(), true);
  EXPECT_TRUE(all_close(rm[1], rm[0], 1e-6f, 1e-5f));
  EXPECT_TRUE(all_close(rv[1], rv[0], 1e-6f, 1e-5f));
}

TEST(BatchNormAddRelu, GradientMatchesFiniteDifferences) {
  const Shape shape{3, 2, 3, 2};
  // x away from where relu's kink would meet a finite-difference step
  const std::vector<Tensor> inputs{random_tensor(shape, 1, -1.0f, 2.0f), random_tensor({2}, 2, 0.5f, 1.5f),
                                   random_tensor({2}, 3), random_tensor(shape, 4)};
  for (bool cl : {false, true})
    for (bool training : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "channels_last " << cl << " training " << training);
      EXPECT_TRUE(check_op_gradients([&](Context& c, const std::vector<Variable>& in) {
        std::vector<Variable> v = in;
        if (cl) v[0] = to_cl(c, in[0]), v[3] = to_cl(c, in[3]);
        return fused_or_composed(c, v, true, training, true, true);
      }, inputs, 1e-3f, 5e-3f, 3e-2f));
    }
}

// ---- a whole network ------------------------------------------------------------------------------

TEST(ChannelsLast, ResNet20ForwardBackwardMatchesNCHW) {
  nn::ModelSpec spec;
  spec.name = "resnet20";
  Tensor x = random_tensor({4, 1, 28, 28}, 1);
  Tensor labels = Tensor::empty({4}, DType::i64);
  for (int64_t i = 0; i < 4; ++i) labels.data<int64_t>()[i] = (i * 3) % 10;
  Tensor logits[2];
  std::vector<Tensor> grads[2];
  for (int cl = 0; cl < 2; ++cl) {
    Rng rng(11);
    auto model = nn::build_model(spec, rng);
    Context ctx(5);
    ctx.dnnl.set_channels_last(cl == 1);
    Variable y = model->forward(ctx, Variable(x));
    Variable loss = ops::cross_entropy(ctx, y, labels);
    loss.backward();
    logits[cl] = y.data();
    for (auto& [name, p] : model->named_parameters()) grads[cl].push_back(p->grad().contiguous());
  }
  EXPECT_TRUE(all_close(logits[1], logits[0], 1e-4f, 1e-3f));
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    EXPECT_TRUE(all_close(grads[1][i], grads[0][i], 1e-4f, 2e-3f));
  }
}
