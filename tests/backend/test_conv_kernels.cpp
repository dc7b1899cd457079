// Convolution kernels: the reference backward checked by finite differences in double, then the
// oneDNN kernels held against the reference (computed in double) on random shapes, outputs pre-filled
// with NaN, including the Fashion-MNIST CNN's exact layers.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "common/testing.h"
#include "cvtrain/backend/cpu/conv.h"
#include "cvtrain/backend/ref/conv.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

struct Case {
  const char* name;
  int64_t N, C, H, W, OC, KH, KW, sh, sw, ph, pw, dh, dw, groups;
  bool bias;
  Conv2dShape shape() const { return make_conv2d_shape(N, C, H, W, OC, KH, KW, sh, sw, ph, pw, dh, dw, groups); }
};

int64_t x_numel(const Conv2dShape& s) { return s.N * s.C * s.H * s.W; }
int64_t w_numel(const Conv2dShape& s) { return s.OC * (s.C / s.groups) * s.KH * s.KW; }
int64_t y_numel(const Conv2dShape& s) { return s.N * s.OC * s.OH * s.OW; }


// Small shapes exercising every option; several leave input rows unread (floor in OH/OW).
const std::vector<Case> kSmall = {
    {"plain", 2, 3, 5, 6, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, true},
    {"padded", 1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},
    {"stride2", 2, 2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, true},
    {"dilation2", 1, 2, 8, 7, 2, 3, 3, 1, 1, 2, 1, 2, 2, 1, true},
    {"groups2", 2, 4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, true},
    {"depthwise_stride2", 1, 3, 6, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3, false},
    {"mixed", 2, 4, 9, 8, 4, 3, 2, 2, 3, 2, 1, 2, 1, 2, true},
};

TEST(ConvRef, BackwardMatchesFiniteDifferencesInDouble) {
  for (const Case& c : kSmall) {
    SCOPED_TRACE(c.name);
    const Conv2dShape s = c.shape();
    std::vector<double> x = random_doubles(x_numel(s), 1), w = random_doubles(w_numel(s), 2);
    std::vector<double> b = random_doubles(s.OC, 3), r = random_doubles(y_numel(s), 4);
    std::vector<double> y(y_numel(s));
    // L = sum(conv(x, w, b) * r), so dL/dy = r
    auto loss = [&](const std::vector<double>& xv, const std::vector<double>& wv, const std::vector<double>& bv) {
      ref::conv2d_forward(xv.data(), wv.data(), c.bias ? bv.data() : nullptr, y.data(), s);
      return dot(y, r);
    };
    std::vector<double> dx(x.size()), dw(w.size()), db(s.OC);
    ref::conv2d_backward_data(w.data(), r.data(), dx.data(), s);
    ref::conv2d_backward_weights(x.data(), r.data(), dw.data(), c.bias ? db.data() : nullptr, s);
    EXPECT_TRUE(all_close(dx, numeric_grad([&](const std::vector<double>& v) { return loss(v, w, b); }, x)));
    EXPECT_TRUE(all_close(dw, numeric_grad([&](const std::vector<double>& v) { return loss(x, v, b); }, w)));
    if (c.bias) {
      EXPECT_TRUE(all_close(db, numeric_grad([&](const std::vector<double>& v) { return loss(x, w, v); }, b)));
    }
  }
}

TEST(ConvRef, ForwardOfAKnownCase) {
  // 1x1x3x3 input 1..9, 2x2 kernel of ones, stride 1: each output is the sum of a 2x2 window, plus bias 0.5
  const Conv2dShape s = make_conv2d_shape(1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1);
  const double x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, b[1] = {0.5};
  double y[4];
  ref::conv2d_forward(x, w, b, y, s);
  EXPECT_EQ(std::vector<double>(y, y + 4), (std::vector<double>{12.5, 16.5, 24.5, 28.5}));
}

// The oneDNN kernels against the reference computed in double from the same f32 inputs. The
// tolerance grows with the number of terms in each sum (f32 rounding in another order; observed
// 5.7e-4 on sums of 25088 products of magnitude <= 1, the CNN's conv2 dw).
void expect_close_to(const std::vector<float>& fast, const std::vector<double>& exact, int64_t terms,
                     const char* what) {
  const double n = static_cast<double>(terms);
  const double atol = 3e-8 * n + 2e-6 * std::sqrt(n) + 1e-6, rtol = 1e-5;
  for (size_t i = 0; i < fast.size(); ++i) {
    ASSERT_TRUE(std::fabs(fast[i] - exact[i]) <= atol + rtol * std::fabs(exact[i]))
        << what << " element " << i << " of " << fast.size() << ": " << fast[i] << " vs " << exact[i];
  }
}

void check_fast_against_ref(const Case& c, uint64_t seed) {
  SCOPED_TRACE(c.name);
  const Conv2dShape s = c.shape();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<double> xd = random_doubles(x_numel(s), seed), wd = random_doubles(w_numel(s), seed + 1);
  std::vector<double> bd = random_doubles(s.OC, seed + 2), dyd = random_doubles(y_numel(s), seed + 3);
  for (auto* v : {&xd, &wd, &bd, &dyd})
    for (double& e : *v) e = static_cast<float>(e);  // inputs exactly representable in f32
  std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end()), b(bd.begin(), bd.end()),
      dy(dyd.begin(), dyd.end());
  const float* bp = c.bias ? b.data() : nullptr;
  Context ctx;

  std::vector<double> y_ref(y_numel(s)), dx_ref(x.size()), dw_ref(w.size()), db_ref(s.OC);
  ref::conv2d_forward(xd.data(), wd.data(), c.bias ? bd.data() : nullptr, y_ref.data(), s);
  ref::conv2d_backward_data(wd.data(), dyd.data(), dx_ref.data(), s);
  ref::conv2d_backward_weights(xd.data(), dyd.data(), dw_ref.data(), db_ref.data(), s);

  // every kernel choice, each twice: the second call runs on the cached primitives with fresh buffers
  for (cpu::ConvImpl impl :
       {cpu::ConvImpl::automatic, cpu::ConvImpl::plain, cpu::ConvImpl::blocked, cpu::ConvImpl::winograd}) {
    for (int round = 0; round < 2; ++round) {
      SCOPED_TRACE(::testing::Message() << "impl " << static_cast<int>(impl) << " round " << round);
      std::vector<float> y(y_ref.size(), nan), dx(x.size(), nan), dw(w.size(), nan), db(s.OC, nan);
      cpu::conv2d_forward(ctx.dnnl, x.data(), w.data(), bp, y.data(), s, impl);
      cpu::conv2d_backward_data(ctx.dnnl, w.data(), dy.data(), dx.data(), s, impl);
      cpu::conv2d_backward_weights(ctx.dnnl, x.data(), dy.data(), dw.data(), c.bias ? db.data() : nullptr, s, impl);
      const int64_t k = (s.C / s.groups) * s.KH * s.KW;
      expect_close_to(y, y_ref, k, "y");
      expect_close_to(dx, dx_ref, (s.OC / s.groups) * s.KH * s.KW, "dx");
      expect_close_to(dw, dw_ref, s.N * s.OH * s.OW, "dw");
      if (c.bias) expect_close_to(db, db_ref, s.N * s.OH * s.OW, "db");
    }
  }
  std::vector<float> db(s.OC, nan);
  cpu::conv2d_backward_bias(dy.data(), db.data(), s);
  expect_close_to(db, db_ref, s.N * s.OH * s.OW, "db alone");
}

TEST(ConvKernels, OneDnnMatchesReferenceOnSmallShapes) {
  uint64_t seed = 10;
  for (const Case& c : kSmall) check_fast_against_ref(c, seed += 10);
}

TEST(ConvKernels, OneDnnMatchesReferenceOnLargerShapes) {
  // channel counts on both sides of the 16-channel blocks, which change oneDNN's layout and kernel
  const std::vector<Case> cases = {
      {"c1_first_layer", 4, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},
      {"c3_rgb_stride2", 3, 3, 32, 32, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, true},
      {"c8", 2, 8, 13, 11, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},
      {"c32_to_64", 2, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},
      {"c48_5x5_dilated", 2, 48, 12, 12, 40, 5, 5, 1, 1, 2, 2, 2, 2, 1, false},
      {"c64_stride2_odd", 2, 64, 15, 15, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, true},
      {"pointwise", 3, 32, 7, 7, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1, true},
      {"grouped_c32_g4", 2, 32, 9, 9, 32, 3, 3, 1, 1, 1, 1, 1, 1, 4, true},
      {"depthwise_c32", 2, 32, 10, 10, 32, 3, 3, 1, 1, 1, 1, 1, 1, 32, true},
  };
  uint64_t seed = 100;
  for (const Case& c : cases) check_fast_against_ref(c, seed += 10);
}

TEST(ConvKernels, OneDnnMatchesReferenceOnTheFashionMnistCnn) {
  // conv 1->32 3x3 pad 1 without bias on 28x28, conv 32->64 3x3 pad 1 on 14x14 (with and without
  // bias), at the training batch of 128
  check_fast_against_ref({"cnn_conv1", 128, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, false}, 1000);
  check_fast_against_ref({"cnn_conv2", 128, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, false}, 2000);
  check_fast_against_ref({"cnn_conv2_bias", 16, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, true}, 3000);
}

TEST(ConvKernels, DistinctShapesKeepDistinctPrimitives) {
  // one runtime, two shapes interleaved: each call must use its own cached primitive and buffers
  Context ctx;
  const Conv2dShape a = make_conv2d_shape(2, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  const Conv2dShape b = make_conv2d_shape(3, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  for (const Conv2dShape& s : {a, b, a}) {
    std::vector<double> xd = random_doubles(x_numel(s), 7), wd = random_doubles(w_numel(s), 8);
    for (double& e : xd) e = static_cast<float>(e);
    for (double& e : wd) e = static_cast<float>(e);
    std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end());
    std::vector<float> y(y_numel(s), std::numeric_limits<float>::quiet_NaN());
    std::vector<double> y_ref(y.size());
    cpu::conv2d_forward(ctx.dnnl, x.data(), w.data(), nullptr, y.data(), s);
    ref::conv2d_forward(xd.data(), wd.data(), static_cast<const double*>(nullptr), y_ref.data(), s);
    expect_close_to(y, y_ref, 16 * 9, "y");
  }
}

TEST(ConvKernels, RepeatedCallsAreBitwiseIdentical) {
  // a fixed thread count gives a fixed reduction order, so training runs are reproducible
  Context ctx;
  const Conv2dShape s = make_conv2d_shape(32, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  std::vector<float> x(x_numel(s)), dy(y_numel(s));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.1 * i));
  for (size_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>(std::cos(0.07 * i));
  std::vector<float> dw1(w_numel(s)), dw2(w_numel(s)), db1(s.OC), db2(s.OC);
  cpu::conv2d_backward_weights(ctx.dnnl, x.data(), dy.data(), dw1.data(), db1.data(), s);
  cpu::conv2d_backward_weights(ctx.dnnl, x.data(), dy.data(), dw2.data(), db2.data(), s);
  EXPECT_EQ(dw1, dw2);
  EXPECT_EQ(db1, db2);
}

TEST(ConvKernels, AutomaticChoiceFollowsTheMeasurements) {
  // CNN conv1 (C=1): forward and backward-data on the plain layout, backward-weights blocked; conv2
  // (32->64): all blocked, forward by Winograd where this CPU's oneDNN has it.
  Context ctx;
  const Conv2dShape conv1 = make_conv2d_shape(8, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  const Conv2dShape conv2 = make_conv2d_shape(8, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  cpu::Conv2dImplInfo a = cpu::conv2d_impl_info(ctx.dnnl, conv1, false);
  EXPECT_TRUE(a.forward_plain) << a.forward;
  EXPECT_TRUE(a.backward_data_plain) << a.backward_data;
  EXPECT_FALSE(a.backward_weights_plain) << a.backward_weights;
  cpu::Conv2dImplInfo b = cpu::conv2d_impl_info(ctx.dnnl, conv2, false);
  EXPECT_FALSE(b.forward_plain) << b.forward;
  EXPECT_FALSE(b.backward_data_plain) << b.backward_data;
  EXPECT_FALSE(b.backward_weights_plain) << b.backward_weights;
  std::printf("conv1: %s / %s / %s\nconv2: %s / %s / %s\n", a.forward, a.backward_data, a.backward_weights, b.forward,
              b.backward_data, b.backward_weights);
}

TEST(ConvShape, ComputesOutputSizeLikePyTorch) {
  // floor((H + 2p - d(k-1) - 1) / s) + 1
  Conv2dShape s = make_conv2d_shape(1, 1, 28, 28, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  EXPECT_EQ(s.OH, 28);
  s = make_conv2d_shape(1, 1, 9, 8, 1, 3, 3, 2, 3, 2, 1, 2, 2, 1);
  EXPECT_EQ(s.OH, 5);
  EXPECT_EQ(s.OW, 2);
  EXPECT_THROW(make_conv2d_shape(1, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2), Error);  // 3 channels, 2 groups
  EXPECT_THROW(make_conv2d_shape(1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1), Error);  // kernel > input
  EXPECT_THROW(make_conv2d_shape(1, 1, 8, 8, 1, 3, 3, 0, 1, 0, 0, 1, 1, 1), Error);  // stride 0
}

}  // namespace

static std::vector<float> to_floats(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// conv2d_backward (dy reordered once for both directions) gives bitwise what the two separate
// calls give, in f32 and bf16, for every combination of wanted gradients.
TEST(ConvKernels, CombinedBackwardEqualsSeparateCalls) {
  const std::vector<Case> cases = {
      {"c32_to_64", 4, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},   // Winograd data, direct weights
      {"c16", 4, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},        // direct both
      {"c3_stride2", 2, 3, 9, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, true},      // plain backward-data
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  uint64_t seed = 5000;
  for (const Case& c : cases)
    for (bool low : {false, true})
      for (int wanted = 1; wanted < 8; ++wanted) {  // bits: dx, dw, db
        SCOPED_TRACE(::testing::Message() << c.name << " bf16 " << low << " wanted " << wanted);
        const Conv2dShape s = c.shape();
        const bool want_dx = wanted & 1, want_dw = wanted & 2, want_db = (wanted & 4) && c.bias;
        std::vector<float> x = to_floats(random_doubles(x_numel(s), seed)), w = to_floats(random_doubles(w_numel(s), seed + 1)),
                           dy = to_floats(random_doubles(y_numel(s), seed + 2));
        Context ctx;
        ctx.dnnl.set_bf16(low);
        std::vector<float> dx1(x.size(), nan), dw1(w.size(), nan), db1(s.OC, nan);
        std::vector<float> dx2 = dx1, dw2 = dw1, db2 = db1;
        if (want_dx) cpu::conv2d_backward_data(ctx.dnnl, w.data(), dy.data(), dx1.data(), s);
        if (want_dw)
          cpu::conv2d_backward_weights(ctx.dnnl, x.data(), dy.data(), dw1.data(), want_db ? db1.data() : nullptr, s);
        else if (want_db)
          cpu::conv2d_backward_bias(dy.data(), db1.data(), s);
        for (int round = 0; round < 2; ++round) {
          cpu::conv2d_backward(ctx.dnnl, x.data(), w.data(), dy.data(), want_dx ? dx2.data() : nullptr,
                               want_dw ? dw2.data() : nullptr, want_db ? db2.data() : nullptr, s);
          EXPECT_EQ(0, std::memcmp(dx1.data(), dx2.data(), dx1.size() * 4));
          EXPECT_EQ(0, std::memcmp(dw1.data(), dw2.data(), dw1.size() * 4));
          EXPECT_EQ(0, std::memcmp(db1.data(), db2.data(), db1.size() * 4));
        }
        seed += 10;
      }
}
