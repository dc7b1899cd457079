// Pooling kernels: the reference backward against finite differences in double, then the fast
// kernels against the reference on random geometries with NaN-prefilled outputs.
#include <omp.h>

#include <cmath>
#include <limits>

#include "common/testing.h"
#include "cvtrain/backend/cpu/pool.h"
#include "cvtrain/backend/ref/pool.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

struct Geometry {
  int64_t N, C, H, W, KH, KW, SH, SW, PH, PW;
  Pool2dShape shape() const { return make_pool2d_shape(N, C, H, W, KH, KW, SH, SW, PH, PW); }
};

const std::vector<Geometry> kGeometries = {
    {2, 3, 6, 7, 2, 2, 2, 2, 0, 0},  // the CNN's 2x2 pool, odd width
    {3, 2, 7, 7, 2, 2, 2, 2, 0, 0},  // odd both ways: last row and column dropped
    {2, 2, 7, 6, 3, 3, 2, 2, 1, 1},  // overlapping, padded
    {1, 3, 5, 6, 3, 2, 1, 2, 1, 0},  // non-square kernel, stride != kernel
    {2, 1, 4, 5, 1, 1, 1, 1, 0, 0},  // identity window
    {1, 2, 9, 8, 4, 3, 3, 2, 2, 1},  // padding == kernel/2
    {1, 1, 3, 4101, 2, 2, 2, 2, 0, 0},  // 2x2 rows too wide for the fast kernel's buffer
    {4, 5, 28, 28, 2, 2, 2, 2, 0, 0},  // fast kernels only: too large for finite differences
};
const size_t kSmall = kGeometries.size() - 1;  // geometries cheap enough for finite differences


std::vector<float> random_floats(int64_t n, uint64_t seed) { return random_tensor({n}, seed).to_vector(); }

}  // namespace

TEST(PoolRef, MaxBackwardMatchesFiniteDifferences) {
  for (size_t k = 0; k < kSmall; ++k) {
    const Geometry& g = kGeometries[k];
    const Pool2dShape s = g.shape();
    const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
    std::vector<double> x = random_doubles(nin, 1), r = random_doubles(nout, 2), y(nout), dx(nin);
    std::vector<int32_t> argmax(nout);
    auto f = [&](const std::vector<double>& v) {
      std::vector<double> out(nout);
      std::vector<int32_t> am(nout);
      ref::max_pool2d_forward(v.data(), out.data(), am.data(), s);
      return dot(out, r);
    };
    ref::max_pool2d_forward(x.data(), y.data(), argmax.data(), s);
    ref::max_pool2d_backward(r.data(), argmax.data(), dx.data(), s);
    EXPECT_TRUE(all_close(dx, numeric_grad(f, x), 1e-6, 1e-6)) << "KH=" << g.KH << " SH=" << g.SH << " PH=" << g.PH;
  }
}

TEST(PoolRef, AvgBackwardMatchesFiniteDifferences) {
  for (size_t k = 0; k < kSmall; ++k) {
    const Geometry& g = kGeometries[k];
    const Pool2dShape s = g.shape();
    const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
    std::vector<double> x = random_doubles(nin, 3), r = random_doubles(nout, 4), dx(nin);
    auto f = [&](const std::vector<double>& v) {
      std::vector<double> out(nout);
      ref::avg_pool2d_forward(v.data(), out.data(), s);
      return dot(out, r);
    };
    ref::avg_pool2d_backward(r.data(), dx.data(), s);
    EXPECT_TRUE(all_close(dx, numeric_grad(f, x), 1e-7, 1e-6)) << "KH=" << g.KH << " SH=" << g.SH << " PH=" << g.PH;
  }
}

TEST(PoolRef, AvgCountsPaddingInTheDivisor) {
  // A 3x3 window at stride 1 with padding 1 over a 2x2 plane of ones: every window sees 4 ones / 9.
  const Pool2dShape s = make_pool2d_shape(1, 1, 2, 2, 3, 3, 1, 1, 1, 1);
  double x[4] = {1, 1, 1, 1}, y[4];
  ref::avg_pool2d_forward(x, y, s);
  for (double v : y) EXPECT_DOUBLE_EQ(v, 4.0 / 9.0);
}

TEST(PoolRef, GlobalAvgBackwardMatchesFiniteDifferences) {
  const int64_t P = 6, HW = 7;
  std::vector<double> x = random_doubles(P * HW, 5), r = random_doubles(P, 6), dx(P * HW);
  auto f = [&](const std::vector<double>& v) {
    std::vector<double> out(P);
    ref::global_avg_pool2d_forward(v.data(), out.data(), P, HW);
    return dot(out, r);
  };
  ref::global_avg_pool2d_backward(r.data(), dx.data(), P, HW);
  EXPECT_TRUE(all_close(dx, numeric_grad(f, x)));
}

TEST(PoolCpu, MaxMatchesReference) {
  uint64_t seed = 10;
  for (const Geometry& g : kGeometries) {
    const Pool2dShape s = g.shape();
    const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
    std::vector<float> x = random_floats(nin, ++seed), dy = random_floats(nout, ++seed);
    std::vector<float> y_ref(nout), y(nout, kNaN), dx_ref(nin), dx(nin, kNaN);
    std::vector<int32_t> am_ref(nout), am(nout, -7);
    ref::max_pool2d_forward(x.data(), y_ref.data(), am_ref.data(), s);
    cpu::max_pool2d_forward(x.data(), y.data(), am.data(), s);
    EXPECT_EQ(y, y_ref) << "KH=" << g.KH << " SH=" << g.SH << " PH=" << g.PH;
    EXPECT_EQ(am, am_ref);
    ref::max_pool2d_backward(dy.data(), am_ref.data(), dx_ref.data(), s);
    cpu::max_pool2d_backward(dy.data(), am.data(), dx.data(), s);
    EXPECT_EQ(dx, dx_ref);
  }
}

TEST(PoolCpu, MaxTiesAndNaNFollowTheReference) {
  // Ties pick the first element in window order; a NaN wins (the last NaN of a window, as PyTorch).
  for (const Geometry& g : kGeometries) {
    const Pool2dShape s = g.shape();
    const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
    std::vector<float> x(nin);
    for (int64_t i = 0; i < nin; ++i) x[i] = static_cast<float>(i % 3);
    for (int64_t i = 0; i < nin; i += 5) x[i] = kNaN;
    for (int64_t i = 1; i < nin; i += 7) x[i] = kNaN;  // windows with two NaNs
    std::vector<float> y_ref(nout), y(nout);
    std::vector<int32_t> am_ref(nout), am(nout);
    ref::max_pool2d_forward(x.data(), y_ref.data(), am_ref.data(), s);
    cpu::max_pool2d_forward(x.data(), y.data(), am.data(), s);
    EXPECT_EQ(am, am_ref);
    for (int64_t o = 0; o < nout; ++o) EXPECT_EQ(std::isnan(y[o]), std::isnan(y_ref[o])) << o;
  }
}

TEST(PoolCpu, MaxTiesOfZerosPickTheFirstElement) {
  // After a ReLU most windows are all zeros: the gradient must go where PyTorch sends it.
  for (const Geometry& g : kGeometries) {
    const Pool2dShape s = g.shape();
    const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
    std::vector<float> x = random_floats(nin, 33);
    for (float& v : x) v = v < 0.3f ? 0.0f : v;  // about two thirds zeros
    std::vector<float> y_ref(nout), y(nout);
    std::vector<int32_t> am_ref(nout), am(nout);
    ref::max_pool2d_forward(x.data(), y_ref.data(), am_ref.data(), s);
    cpu::max_pool2d_forward(x.data(), y.data(), am.data(), s);
    EXPECT_EQ(am, am_ref) << "KH=" << g.KH << " SH=" << g.SH << " PH=" << g.PH;
    EXPECT_EQ(y, y_ref);
  }
}

TEST(PoolCpu, AvgMatchesReference) {
  uint64_t seed = 40;
  for (const Geometry& g : kGeometries) {
    const Pool2dShape s = g.shape();
    const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
    std::vector<float> x = random_floats(nin, ++seed), dy = random_floats(nout, ++seed);
    Tensor y_ref = Tensor::empty({nout}), y = Tensor::full({nout}, kNaN);
    Tensor dx_ref = Tensor::empty({nin}), dx = Tensor::full({nin}, kNaN);
    ref::avg_pool2d_forward(x.data(), y_ref.data<float>(), s);
    cpu::avg_pool2d_forward(x.data(), y.data<float>(), s);
    EXPECT_TRUE(all_close(y, y_ref, 1e-6f, 1e-5f)) << "KH=" << g.KH << " SH=" << g.SH << " PH=" << g.PH;
    ref::avg_pool2d_backward(dy.data(), dx_ref.data<float>(), s);
    cpu::avg_pool2d_backward(dy.data(), dx.data<float>(), s);
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-6f, 1e-5f));
  }
}

TEST(PoolCpu, GlobalAvgMatchesReference) {
  for (auto [P, HW] : {std::pair<int64_t, int64_t>{6, 49}, {256, 1}, {3, 784}, {1000, 64}}) {
    std::vector<float> x = random_floats(P * HW, 70 + P), dy = random_floats(P, 80 + P);
    Tensor y_ref = Tensor::empty({P}), y = Tensor::full({P}, kNaN);
    Tensor dx_ref = Tensor::empty({P * HW}), dx = Tensor::full({P * HW}, kNaN);
    ref::global_avg_pool2d_forward(x.data(), y_ref.data<float>(), P, HW);
    cpu::global_avg_pool2d_forward(x.data(), y.data<float>(), P, HW);
    EXPECT_TRUE(all_close(y, y_ref, 1e-6f, 1e-5f));
    ref::global_avg_pool2d_backward(dy.data(), dx_ref.data<float>(), P, HW);
    cpu::global_avg_pool2d_backward(dy.data(), dx.data<float>(), P, HW);
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-7f, 1e-6f));
  }
}

TEST(PoolCpu, SameResultsForOneAndTwoThreads) {
  const Pool2dShape s = make_pool2d_shape(8, 16, 28, 28, 2, 2, 2, 2, 0, 0);
  const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
  std::vector<float> x = random_floats(nin, 90), dy = random_floats(nout, 91);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> y(nout), dx(nin);
    std::vector<int32_t> am(nout);
    cpu::max_pool2d_forward(x.data(), y.data(), am.data(), s);
    cpu::max_pool2d_backward(dy.data(), am.data(), dx.data(), s);
    omp_set_num_threads(saved);
    y.insert(y.end(), dx.begin(), dx.end());
    return y;
  };
  EXPECT_EQ(run(1), run(2));
}

TEST(PoolShape, RejectsBadGeometry) {
  EXPECT_THROW(make_pool2d_shape(1, 1, 4, 4, 2, 2, 2, 2, 2, 0), Error);  // padding > kernel/2
  EXPECT_THROW(make_pool2d_shape(1, 1, 2, 2, 3, 3, 1, 1, 0, 0), Error);  // kernel larger than input
  EXPECT_THROW(make_pool2d_shape(1, 1, 4, 4, 2, 2, 0, 2, 0, 0), Error);  // zero stride
  const Pool2dShape s = make_pool2d_shape(1, 1, 7, 6, 3, 3, 2, 2, 1, 1);
  EXPECT_EQ(s.OH, 4);
  EXPECT_EQ(s.OW, 3);
}
