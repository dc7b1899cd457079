// Fused batch norm + residual + ReLU kernels (cpu::bn_act_*, both layouts) against their reference
// twin in double on random shapes, outputs pre-filled with NaN; the reference's backward by finite
// differences; the pooling kernels' NHWC twins against the NCHW ones; and the NHWC batch-norm sums
// against the same data far from zero mean. Results must not depend on the thread count.
#include <omp.h>

#include <cmath>

#include "common/testing.h"
#include "cvtrain/backend/cpu/bn_act.h"
#include "cvtrain/backend/cpu/pool_nhwc.h"
#include "cvtrain/backend/ref/bn_act.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

// (N,C,HW) <-> (N,HW,C)
std::vector<float> to_nhwc(const std::vector<float>& v, int64_t N, int64_t C, int64_t HW) {
  std::vector<float> o(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) o[(n * HW + i) * C + c] = v[(n * C + c) * HW + i];
  return o;
}
std::vector<float> to_nchw(const std::vector<float>& v, int64_t N, int64_t C, int64_t HW) {
  std::vector<float> o(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) o[(n * C + c) * HW + i] = v[(n * HW + i) * C + c];
  return o;
}
std::vector<double> d(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<float> rnd(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return random_tensor({static_cast<int64_t>(n)}, seed, lo, hi).to_vector();
}

struct Case {
  int64_t N, C, HW;
  bool residual, relu, training;
};

void check_against_reference(const Case& k, bool cl, float offset) {
  SCOPED_TRACE(::testing::Message() << "N " << k.N << " C " << k.C << " HW " << k.HW << " residual " << k.residual
                                    << " relu " << k.relu << " training " << k.training << " channels_last " << cl);
  const int64_t n = k.N * k.C * k.HW;
  std::vector<float> x = rnd(n, 1, offset - 1.0f, offset + 2.0f), w = rnd(k.C, 2, 0.5f, 1.5f), b = rnd(k.C, 3),
                     r = rnd(n, 4), dy = rnd(n, 5), rm = rnd(k.C, 6), rv = rnd(k.C, 7, 0.5f, 2.0f);
  // reference in double, NCHW
  std::vector<double> y_ref(n), mean_ref(k.C), invstd_ref(k.C), rm_ref = d(rm), rv_ref = d(rv);
  std::vector<double> xd = d(x), wd = d(w), bd = d(b), rd = d(r);
  if (k.training) {
    ref::batch_norm_add_relu_forward_train(xd.data(), wd.data(), bd.data(), k.residual ? rd.data() : nullptr, k.relu,
                                           y_ref.data(), mean_ref.data(), invstd_ref.data(), rm_ref.data(),
                                           rv_ref.data(), 0.1, 1e-5, k.N, k.C, k.HW);
  } else {
    for (int64_t c = 0; c < k.C; ++c) mean_ref[c] = rm[c], invstd_ref[c] = 1.0 / std::sqrt(rv[c] + 1e-5f);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = (j / k.HW) % k.C;
      double v = (xd[j] - mean_ref[c]) * invstd_ref[c] * wd[c] + bd[c] + (k.residual ? rd[j] : 0.0);
      y_ref[j] = k.relu ? std::max(v, 0.0) : v;
    }
  }
  std::vector<double> dx_ref(n), dr_ref(n), dw_ref(k.C), db_ref(k.C);
  ref::batch_norm_add_relu_backward(xd.data(), y_ref.data(), d(dy).data(), wd.data(), mean_ref.data(),
                                    invstd_ref.data(), k.relu, k.training, dx_ref.data(), dr_ref.data(), dw_ref.data(),
                                    db_ref.data(), k.N, k.C, k.HW);

  // fast kernels, in the layout under test, at 1 and 2 threads (bitwise the same)
  auto lay = [&](const std::vector<float>& v) { return cl ? to_nhwc(v, k.N, k.C, k.HW) : v; };
  auto unlay = [&](const std::vector<float>& v) { return cl ? to_nchw(v, k.N, k.C, k.HW) : v; };
  const cpu::BnLayout l{k.N, k.C, k.HW, cl};
  std::vector<float> first_y, first_dx;
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    std::vector<double> scratch(cpu::bn_act_scratch_doubles(l), kNaN);
    std::vector<float> xl = lay(x), rl = lay(r), dyl = lay(dy), y(n, kNaN), mean(k.C, kNaN), invstd(k.C, kNaN),
                       rm2 = rm, rv2 = rv;
    if (k.training) {
      cpu::bn_act_forward_train(xl.data(), w.data(), b.data(), k.residual ? rl.data() : nullptr, k.relu, y.data(),
                                mean.data(), invstd.data(), rm2.data(), rv2.data(), 0.1f, 1e-5f, l, scratch.data(),
                                nullptr);
      EXPECT_TRUE(all_close(d(rm2), rm_ref, 1e-5, 1e-5));
      EXPECT_TRUE(all_close(d(rv2), rv_ref, 1e-5, 1e-4));
    } else {
      for (int64_t c = 0; c < k.C; ++c) mean[c] = rm[c], invstd[c] = 1.0f / std::sqrt(rv[c] + 1e-5f);
      cpu::bn_act_forward_eval(xl.data(), w.data(), b.data(), k.residual ? rl.data() : nullptr, k.relu, mean.data(),
                               invstd.data(), y.data(), l, scratch.data());
    }
    // NOTE: far from zero, x - mean carries the rounding of f32 x and mean (ulp(1000) = 6e-5)
    EXPECT_TRUE(all_close(d(unlay(y)), y_ref, 2e-5 + 1e-7 * offset, 1e-4));
    std::vector<float> dx(n, kNaN), dr(n, kNaN), dw(k.C, kNaN), db(k.C, kNaN);
    cpu::bn_act_backward(xl.data(), k.relu ? y.data() : nullptr, dyl.data(), w.data(), mean.data(), invstd.data(),
                         k.relu, k.training, dx.data(), k.residual ? dr.data() : nullptr, dw.data(), db.data(), l,
                         scratch.data(), nullptr);
    EXPECT_TRUE(all_close(d(unlay(dx)), dx_ref, 1e-4 + 1e-7 * offset, 1e-3));
    if (k.residual) {
      EXPECT_TRUE(all_close(d(unlay(dr)), dr_ref, 0, 0));
    }
    EXPECT_TRUE(all_close(d(dw), dw_ref, 1e-4, 1e-4));
    EXPECT_TRUE(all_close(d(db), db_ref, 1e-4, 1e-4));
    if (threads == 1) {
      first_y = y, first_dx = dx;
    } else {
      EXPECT_EQ(y, first_y) << "forward depends on the thread count";
      EXPECT_EQ(dx, first_dx) << "backward depends on the thread count";
    }
  }
  omp_set_num_threads(2);
}

}  // namespace

TEST(BnActKernels, ReferenceBackwardMatchesFiniteDifferences) {
  const int64_t N = 3, C = 2, HW = 4, n = N * C * HW;
  std::vector<double> x = random_doubles(n, 1, -1.0, 2.0), w = random_doubles(C, 2, 0.5, 1.5),
                      b = random_doubles(C, 3), res = random_doubles(n, 4), R = random_doubles(n, 5);
  auto loss = [&](const std::vector<double>& xx, const std::vector<double>& rr) {
    std::vector<double> y(n), mean(C), invstd(C);
    ref::batch_norm_add_relu_forward_train(xx.data(), w.data(), b.data(), rr.data(), true, y.data(), mean.data(),
                                           invstd.data(), static_cast<double*>(nullptr),
                                           static_cast<double*>(nullptr), 0.1, 1e-5, N, C, HW);
    return dot(y, R);
  };
  std::vector<double> y(n), mean(C), invstd(C), dx(n), dr(n), dw(C), db(C);
  ref::batch_norm_add_relu_forward_train(x.data(), w.data(), b.data(), res.data(), true, y.data(), mean.data(),
                                         invstd.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                         0.1, 1e-5, N, C, HW);
  ref::batch_norm_add_relu_backward(x.data(), y.data(), R.data(), w.data(), mean.data(), invstd.data(), true, true,
                                    dx.data(), dr.data(), dw.data(), db.data(), N, C, HW);
  EXPECT_TRUE(all_close(dx, numeric_grad([&](const std::vector<double>& v) { return loss(v, res); }, x), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(dr, numeric_grad([&](const std::vector<double>& v) { return loss(x, v); }, res), 1e-6, 1e-5));
}

TEST(BnActKernels, MatchReference) {
  for (bool cl : {false, true})
    for (const Case& k : {Case{4, 3, 25, true, true, true}, Case{2, 16, 300, true, true, true},
                          Case{5, 7, 9, false, true, true}, Case{3, 5, 11, true, false, true},
                          Case{2, 4, 6, false, false, true}, Case{3, 6, 10, true, true, false},
                          Case{600, 5, 1, false, true, true}, Case{3, 32, 100, true, true, true},
                          Case{2, 48, 30, false, true, true}})
      check_against_reference(k, cl, 0.0f);
}

TEST(BnActKernels, FarFromZeroMean) {  // the shifted sums keep the variance clear of cancellation
  for (bool cl : {false, true}) check_against_reference(Case{4, 3, 50, true, true, true}, cl, 1000.0f);
}

TEST(PoolNhwcKernels, MatchNCHWKernels) {
  for (auto [N, C, H, W, K, S, P] : {std::tuple{2, 5, 8, 7, 2, 2, 0}, {3, 16, 7, 7, 3, 2, 1}, {1, 3, 5, 6, 3, 1, 1},
                                      // 2x2 kernels, 16 channels at a time; odd rows/columns in no window
                                      {2, 32, 9, 8, 2, 2, 0}, {1, 48, 6, 5, 2, 2, 0}, {2, 16, 7, 7, 2, 2, 0}}) {
    const Pool2dShape s = make_pool2d_shape(N, C, H, W, K, K, S, S, P, P);
    const int64_t in = N * C * H * W, out = N * C * s.OH * s.OW;
    std::vector<float> x = rnd(in, 1), dy = rnd(out, 2);
    x[3] = kNaN;  // NaN wins in both
    std::vector<float> y(out, kNaN), yl(out, kNaN), dx(in, kNaN), dxl(in, kNaN);
    std::vector<int32_t> a(out), al(out);
    cpu::max_pool2d_forward(x.data(), y.data(), a.data(), s);
    std::vector<float> xl = to_nhwc(x, N, C, H * W);
    cpu::max_pool2d_forward_nhwc(xl.data(), yl.data(), al.data(), s);
    std::vector<float> yb = to_nchw(yl, N, C, s.OH * s.OW);
    for (int64_t i = 0; i < out; ++i) EXPECT_TRUE(y[i] == yb[i] || (std::isnan(y[i]) && std::isnan(yb[i]))) << i;
    cpu::max_pool2d_backward(dy.data(), a.data(), dx.data(), s);
    std::vector<float> dyl = to_nhwc(dy, N, C, s.OH * s.OW);
    cpu::max_pool2d_backward_nhwc(dyl.data(), al.data(), dxl.data(), s);
    EXPECT_EQ(to_nchw(dxl, N, C, H * W), dx);

    std::vector<float> g(N * C, kNaN), gl(N * C, kNaN), gx(in, kNaN), gxl(in, kNaN), dg = rnd(N * C, 3);
    cpu::global_avg_pool2d_forward(x.data(), g.data(), N * C, H * W);
    cpu::global_avg_pool2d_forward_nhwc(xl.data(), gl.data(), N, C, H * W);
    for (int64_t i = 0; i < N * C; ++i)
      EXPECT_TRUE((std::isnan(g[i]) && std::isnan(gl[i])) || std::fabs(g[i] - gl[i]) <= 1e-6f) << i;
    cpu::global_avg_pool2d_backward(dg.data(), gx.data(), N * C, H * W);
    cpu::global_avg_pool2d_backward_nhwc(dg.data(), gxl.data(), N, C, H * W);
    EXPECT_EQ(to_nchw(gxl, N, C, H * W), gx);
  }
}
