// Reduction kernels: sum (with scale) and max over a dim. Backward math by finite differences in
// double on the reference twins; the fast f32 kernels against the reference on many layouts
// (every kept/reduced pattern, size-1 and empty dims, sizes that go parallel), outputs NaN-filled.
#include <cmath>
#include <limits>

#include "common/testing.h"
#include "cvtrain/backend/cpu/reduce.h"
#include "cvtrain/backend/ref/reduce.h"
#include "cvtrain/tensor/rng.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

int64_t kept_numel(const Shape& s, const std::vector<uint8_t>& r) {
  int64_t m = 1;
  for (size_t d = 0; d < s.size(); ++d)
    if (!r[d]) m *= s[d];
  return m;
}

::testing::AssertionResult close(const std::vector<float>& fast, const std::vector<float>& ref, float tol) {
  for (size_t i = 0; i < fast.size(); ++i)
    if (!(std::fabs(fast[i] - ref[i]) <= tol * (1.0f + std::fabs(ref[i]))))
      return ::testing::AssertionFailure() << "element " << i << ": fast " << fast[i] << " vs ref " << ref[i];
  return ::testing::AssertionSuccess();
}

void compare_sum(const Shape& s, const std::vector<uint8_t>& r, uint64_t seed) {
  SCOPED_TRACE(shape_str(s));
  const Tensor x = random_tensor(s, seed);
  const int64_t m = kept_numel(s, r), nd = static_cast<int64_t>(s.size());
  for (float scale : {1.0f, 0.25f}) {
    // the reference in double, so the tolerance is the f32 kernel's own rounding: terms * eps
    std::vector<float> yf(m, kNaN), yr(m, kNaN);
    std::vector<double> xd(x.numel()), yd(m, kNaN);
    for (int64_t i = 0; i < x.numel(); ++i) xd[i] = x.data<float>()[i];
    cpu::sum_forward(x.data<float>(), s.data(), r.data(), nd, scale, yf.data());
    ref::sum_forward<double>(xd.data(), s.data(), r.data(), nd, scale, yd.data());
    for (int64_t j = 0; j < m; ++j) yr[j] = static_cast<float>(yd[j]);
    const int64_t terms = m ? x.numel() / m : 0;
    EXPECT_TRUE(close(yf, yr, 1e-6f + 1.2e-7f * static_cast<float>(terms)));
    const Tensor dy = random_tensor({m}, seed + 1);
    std::vector<float> dxf(x.numel(), kNaN), dxr(x.numel(), kNaN);
    cpu::sum_backward(dy.data<float>(), s.data(), r.data(), nd, scale, dxf.data());
    ref::sum_backward<float>(dy.data<float>(), s.data(), r.data(), nd, scale, dxr.data());
    EXPECT_EQ(dxf, dxr);
  }
}

}  // namespace

TEST(ReduceKernels, RefSumBackwardMatchesFiniteDifferencesInDouble) {
  const Shape s = {2, 3, 4};
  for (const std::vector<uint8_t>& r : {std::vector<uint8_t>{1, 0, 1}, {0, 1, 0}, {1, 1, 1}, {0, 0, 0}}) {
    const int64_t m = kept_numel(s, r);
    const std::vector<double> w = random_doubles(m, 3);
    auto loss = [&](const std::vector<double>& x) {
      std::vector<double> y(m);
      ref::sum_forward<double>(x.data(), s.data(), r.data(), 3, 0.5, y.data());
      double l = 0;
      for (int64_t j = 0; j < m; ++j) l += w[j] * y[j];
      return l;
    };
    const std::vector<double> x = random_doubles(24, 4);
    std::vector<double> dx(24);
    ref::sum_backward<double>(w.data(), s.data(), r.data(), 3, 0.5, dx.data());
    EXPECT_TRUE(all_close(dx, numeric_grad(loss, x)));
  }
}

TEST(ReduceKernels, RefMaxBackwardMatchesFiniteDifferencesInDouble) {
  const int64_t outer = 2, n = 5, inner = 3;
  const std::vector<double> w = random_doubles(outer * inner, 5);
  auto loss = [&](const std::vector<double>& x) {
    std::vector<double> y(outer * inner);
    std::vector<int64_t> arg(outer * inner);
    ref::max_forward<double>(x.data(), outer, n, inner, y.data(), arg.data());
    double l = 0;
    for (size_t j = 0; j < y.size(); ++j) l += w[j] * y[j];
    return l;
  };
  const std::vector<double> x = random_doubles(outer * n * inner, 6);  // distinct values: max is smooth here
  std::vector<double> y(outer * inner), dx(x.size());
  std::vector<int64_t> arg(outer * inner);
  ref::max_forward<double>(x.data(), outer, n, inner, y.data(), arg.data());
  ref::max_backward<double>(w.data(), arg.data(), outer, n, inner, dx.data());
  EXPECT_TRUE(all_close(dx, numeric_grad(loss, x)));
}

TEST(ReduceKernels, RefSumKnownValues) {
  // x: (2,3) = [[1,2,3],[4,5,6]]
  const float x[] = {1, 2, 3, 4, 5, 6};
  const int64_t s[] = {2, 3};
  const uint8_t rows[] = {0, 1}, cols[] = {1, 0};
  float y[3];
  ref::sum_forward<float>(x, s, rows, 2, 1.0f, y);
  EXPECT_EQ(std::vector<float>(y, y + 2), (std::vector<float>{6, 15}));
  ref::sum_forward<float>(x, s, cols, 2, 1.0f, y);
  EXPECT_EQ(std::vector<float>(y, y + 3), (std::vector<float>{5, 7, 9}));
}

TEST(ReduceKernels, FastSumMatchesRefOnEveryPattern) {
  using R = std::vector<uint8_t>;
  compare_sum({5}, R{1}, 1);                    // all
  compare_sum({5}, R{0}, 2);                    // none
  compare_sum({4, 7}, R{0, 1}, 3);              // rows (K,R)
  compare_sum({4, 7}, R{1, 0}, 4);              // columns (R,K)
  compare_sum({3, 4, 5}, R{0, 1, 0}, 5);        // (K,R,K)
  compare_sum({3, 4, 5}, R{1, 0, 1}, 6);        // (R,K,R): per-channel of NCHW-like
  compare_sum({2, 3, 4, 5}, R{0, 1, 0, 1}, 7);  // (K,R,K,R)
  compare_sum({2, 3, 4, 5}, R{1, 0, 1, 0}, 8);  // (R,K,R,K): strided inner runs
  compare_sum({2, 1, 3, 1}, R{1, 1, 0, 0}, 9);  // size-1 dims, flags on them ignored
  compare_sum({1, 1}, R{1, 0}, 10);             // one element
  compare_sum({}, R{}, 11);                     // 0-d
  compare_sum({0, 3}, R{1, 0}, 12);             // empty reduced dim: zeros
  compare_sum({3, 0}, R{0, 1}, 13);
  compare_sum({200000}, R{1}, 14);              // whole-tensor, parallel chunks
  compare_sum({64, 3000}, R{0, 1}, 15);         // parallel rows
  compare_sum({3000, 64}, R{1, 0}, 16);         // parallel columns
  compare_sum({3, 1000, 300}, R{0, 1, 0}, 17);  // columns with a lead, several blocks
  compare_sum({16, 8, 32, 32}, R{1, 0, 1, 1}, 18);
}

TEST(ReduceKernels, FastSumMatchesRefOnRandomShapes) {
  Rng rng(77);
  for (int trial = 0; trial < 80; ++trial) {
    const int64_t nd = 1 + static_cast<int64_t>(rng.below(5));
    Shape s(nd);
    std::vector<uint8_t> r(nd);
    for (int64_t d = 0; d < nd; ++d) s[d] = 1 + static_cast<int64_t>(rng.below(6)), r[d] = rng.below(2);
    compare_sum(s, r, 300 + trial);
  }
}

TEST(ReduceKernels, WholeSumIsAccurateForLongInputs) {
  // 1e6 copies of 0.1: naive float accumulation drifts by ~1%; chunked partials stay close.
  std::vector<float> x(1000000, 0.1f);
  const int64_t s[] = {1000000};
  const uint8_t r[] = {1};
  float y = kNaN;
  cpu::sum_forward(x.data(), s, r, 1, 1.0f, &y);
  EXPECT_NEAR(y, 100000.0f, 1.0f);
}

TEST(ReduceKernels, FastMaxMatchesRef) {
  struct Case {
    int64_t outer, n, inner;
  };
  for (const Case& c : {Case{1, 1, 1}, Case{3, 5, 1}, Case{2, 4, 3}, Case{1, 7, 600}, Case{5, 3, 300},
                        Case{40, 30, 50}, Case{1, 100000, 1}}) {
    SCOPED_TRACE(std::to_string(c.outer) + "x" + std::to_string(c.n) + "x" + std::to_string(c.inner));
    Tensor x = random_tensor({c.outer * c.n * c.inner}, 41);
    float* p = x.data<float>();
    for (int64_t i = 0; i < x.numel(); i += 3) p[i] = std::round(p[i] * 2) / 2;  // ties
    if (x.numel() > 10) p[7] = kNaN;                                           // NaN wins
    const int64_t m = c.outer * c.inner;
    std::vector<float> yf(m, 0.5f), yr(m, 0.5f);
    std::vector<int64_t> af(m, -1), ar(m, -1);
    cpu::max_forward(p, c.outer, c.n, c.inner, yf.data(), af.data());
    ref::max_forward<float>(p, c.outer, c.n, c.inner, yr.data(), ar.data());
    EXPECT_EQ(af, ar);
    for (int64_t j = 0; j < m; ++j)
      EXPECT_TRUE(yf[j] == yr[j] || (std::isnan(yf[j]) && std::isnan(yr[j]))) << j;
    const Tensor dy = random_tensor({m}, 42);
    std::vector<float> dxf(x.numel(), kNaN), dxr(x.numel(), kNaN);
    cpu::max_backward(dy.data<float>(), af.data(), c.outer, c.n, c.inner, dxf.data());
    ref::max_backward<float>(dy.data<float>(), ar.data(), c.outer, c.n, c.inner, dxr.data());
    EXPECT_EQ(dxf, dxr);
  }
}

TEST(ReduceKernels, MaxPicksFirstOfTiesAndPropagatesNaN) {
  const float x[] = {1, 3, 3, 2, /**/ 0, kNaN, 5, kNaN};  // (2, 4): max over the 4
  float y[2];
  int64_t arg[2];
  cpu::max_forward(x, 2, 4, 1, y, arg);
  EXPECT_EQ(y[0], 3.0f);
  EXPECT_EQ(arg[0], 1);
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(arg[1], 1);
}
