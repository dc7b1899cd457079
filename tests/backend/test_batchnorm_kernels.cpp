// Batch-norm kernels: the reference backward (training, through the batch statistics; evaluation)
// against finite differences in double, then the fast kernels against the reference on random
// shapes with NaN-prefilled outputs, including data far from zero mean.
#include <omp.h>

#include <cmath>
#include <limits>

#include "common/testing.h"
#include "cvtrain/backend/cpu/batchnorm.h"
#include "cvtrain/backend/ref/batchnorm.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

struct Dims {
  int64_t N, C, HW;
};


// L = sum(batch_norm(x; w, b) * R) for the reference kernel in double, as a function of one of x, w, b.
struct RefLoss {
  Dims d;
  bool training;
  std::vector<double> x, w, b, r, rm, rv;
  double operator()(const std::vector<double>& xx, const std::vector<double>& ww, const std::vector<double>& bb) const {
    std::vector<double> y(xx.size()), mean(d.C), invstd(d.C);
    if (training)
      ref::batch_norm_forward_train(xx.data(), ww.data(), bb.data(), y.data(), mean.data(), invstd.data(),
                                    static_cast<double*>(nullptr), static_cast<double*>(nullptr), 0.1, 1e-5, d.N, d.C,
                                    d.HW);
    else
      ref::batch_norm_forward_eval(xx.data(), ww.data(), bb.data(), rm.data(), rv.data(), 1e-5, y.data(), d.N, d.C,
                                   d.HW);
    return dot(y, r);
  }
};

void check_ref_backward(Dims d, bool training, uint64_t seed) {
  const int64_t n = d.N * d.C * d.HW;
  RefLoss L{d, training, random_doubles(n, seed, -1.0, 3.0), random_doubles(d.C, seed + 1, 0.5, 1.5),
            random_doubles(d.C, seed + 2), random_doubles(n, seed + 3), random_doubles(d.C, seed + 4),
            random_doubles(d.C, seed + 5, 0.5, 2.0)};
  std::vector<double> mean(d.C), invstd(d.C), y(n), dx(n), dw(d.C), db(d.C);
  if (training) {
    ref::batch_norm_forward_train(L.x.data(), L.w.data(), L.b.data(), y.data(), mean.data(), invstd.data(),
                                  static_cast<double*>(nullptr), static_cast<double*>(nullptr), 0.1, 1e-5, d.N, d.C,
                                  d.HW);
  } else {
    mean = L.rm;
    for (int64_t c = 0; c < d.C; ++c) invstd[c] = 1.0 / std::sqrt(L.rv[c] + 1e-5);
  }
  ref::batch_norm_backward(L.x.data(), L.r.data(), L.w.data(), mean.data(), invstd.data(), training, dx.data(),
                           dw.data(), db.data(), d.N, d.C, d.HW);
  EXPECT_TRUE(all_close(dx, numeric_grad([&](const std::vector<double>& v) { return L(v, L.w, L.b); }, L.x), 1e-6,
                        1e-5))
      << "dx, training=" << training;
  EXPECT_TRUE(all_close(dw, numeric_grad([&](const std::vector<double>& v) { return L(L.x, v, L.b); }, L.w), 1e-6,
                        1e-5))
      << "dweight, training=" << training;
  EXPECT_TRUE(all_close(db, numeric_grad([&](const std::vector<double>& v) { return L(L.x, L.w, v); }, L.b), 1e-6,
                        1e-5))
      << "dbias, training=" << training;
}

std::vector<float> floats(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return random_tensor({n}, seed, lo, hi).to_vector();
}

std::vector<double> dbl(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Compares the fast f32 result with the reference run in double.
::testing::AssertionResult close(const std::vector<float>& a, const std::vector<double>& b, float atol, float rtol) {
  const int64_t n = static_cast<int64_t>(a.size());
  return all_close(Tensor::from_vector(a, {n}), Tensor::from_vector(std::vector<float>(b.begin(), b.end()), {n}), atol,
                   rtol);
}

::testing::AssertionResult close(const std::vector<float>& a, const std::vector<float>& b, float atol, float rtol) {
  const int64_t n = static_cast<int64_t>(a.size());
  return all_close(Tensor::from_vector(a, {n}), Tensor::from_vector(b, {n}), atol, rtol);
}

}  // namespace

TEST(BatchNormRef, TrainingBackwardMatchesFiniteDifferences) {
  check_ref_backward({3, 2, 5}, true, 1);
  check_ref_backward({7, 3, 1}, true, 11);  // (N,C) input
}

TEST(BatchNormRef, EvalBackwardMatchesFiniteDifferences) {
  check_ref_backward({3, 2, 5}, false, 21);
  check_ref_backward({4, 3, 1}, false, 31);
}

TEST(BatchNormRef, RunningStatisticsUseUnbiasedVariance) {
  // One channel, values {1, 3}: mean 2, biased variance 1, unbiased 2.
  const double x[2] = {1, 3};
  double y[2], mean, invstd, rm = 0.5, rv = 4.0;
  ref::batch_norm_forward_train(x, static_cast<const double*>(nullptr), static_cast<const double*>(nullptr), y, &mean,
                                &invstd, &rm, &rv, 0.25, 0.0, 2, 1, 1);
  EXPECT_DOUBLE_EQ(mean, 2.0);
  EXPECT_DOUBLE_EQ(invstd, 1.0);
  EXPECT_DOUBLE_EQ(rm, 0.75 * 0.5 + 0.25 * 2.0);
  EXPECT_DOUBLE_EQ(rv, 0.75 * 4.0 + 0.25 * 2.0);
  EXPECT_DOUBLE_EQ(y[0], -1.0);
  EXPECT_DOUBLE_EQ(y[1], 1.0);
}

TEST(BatchNormCpu, TrainingMatchesReference) {
  const std::vector<Dims> dims = {{4, 3, 30}, {16, 32, 49}, {128, 5, 1}, {2, 7, 784}, {1, 4, 17}, {9, 2, 3}};
  uint64_t seed = 100;
  for (const Dims& d : dims) {
    for (float offset : {0.0f, 100.0f}) {  // 100: mean >> std, where a naive one-pass variance fails
      const int64_t n = d.N * d.C * d.HW;
      std::vector<float> x = floats(n, ++seed, offset - 1.0f, offset + 2.0f), dy = floats(n, ++seed);
      std::vector<float> w = floats(d.C, ++seed, 0.5f, 1.5f), b = floats(d.C, ++seed);
      std::vector<float> rm0 = floats(d.C, ++seed), rv0 = floats(d.C, ++seed, 0.5f, 2.0f);
      const std::vector<double> xd = dbl(x), dyd = dbl(dy), wd = dbl(w), bd = dbl(b);
      for (const bool affine : {true, false}) {
        SCOPED_TRACE(::testing::Message() << "N=" << d.N << " C=" << d.C << " HW=" << d.HW << " offset=" << offset
                                          << " affine=" << affine);
        std::vector<double> y_ref(n), mean_ref(d.C), is_ref(d.C), rm_ref = dbl(rm0), rv_ref = dbl(rv0);
        ref::batch_norm_forward_train(xd.data(), affine ? wd.data() : nullptr, affine ? bd.data() : nullptr,
                                      y_ref.data(), mean_ref.data(), is_ref.data(), rm_ref.data(), rv_ref.data(), 0.1,
                                      1e-5, d.N, d.C, d.HW);
        std::vector<float> y(n, kNaN), mean(d.C, kNaN), is(d.C, kNaN), rm = rm0, rv = rv0;
        cpu::batch_norm_forward_train(x.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr, y.data(),
                                      mean.data(), is.data(), rm.data(), rv.data(), 0.1f, 1e-5f, d.N, d.C, d.HW);
        EXPECT_TRUE(close(mean, mean_ref, 1e-5f, 1e-6f));
        EXPECT_TRUE(close(is, is_ref, 1e-5f, 1e-4f));
        EXPECT_TRUE(close(rm, rm_ref, 1e-5f, 1e-5f));
        EXPECT_TRUE(close(rv, rv_ref, 1e-5f, 1e-4f));
        EXPECT_TRUE(close(y, y_ref, 2e-5f, 1e-4f));

        std::vector<double> dx_ref(n), dw_ref(d.C), db_ref(d.C);
        ref::batch_norm_backward(xd.data(), dyd.data(), affine ? wd.data() : nullptr, mean_ref.data(), is_ref.data(),
                                 true, dx_ref.data(), dw_ref.data(), db_ref.data(), d.N, d.C, d.HW);
        std::vector<float> dx(n, kNaN), dw(d.C, kNaN), db(d.C, kNaN);
        cpu::batch_norm_backward(x.data(), dy.data(), affine ? w.data() : nullptr, mean.data(), is.data(), true,
                                 dx.data(), dw.data(), db.data(), d.N, d.C, d.HW);
        EXPECT_TRUE(close(dx, dx_ref, 2e-5f, 1e-3f));
        EXPECT_TRUE(close(dw, dw_ref, 1e-4f, 1e-4f));
        EXPECT_TRUE(close(db, db_ref, 1e-4f, 1e-5f));
      }
    }
  }
}

TEST(BatchNormCpu, EvalMatchesReference) {
  const std::vector<Dims> dims = {{4, 3, 30}, {16, 32, 49}, {128, 5, 1}, {3, 2, 784}};
  uint64_t seed = 200;
  for (const Dims& d : dims) {
    const int64_t n = d.N * d.C * d.HW;
    std::vector<float> x = floats(n, ++seed), dy = floats(n, ++seed), w = floats(d.C, ++seed, 0.5f, 1.5f),
                       b = floats(d.C, ++seed), rm = floats(d.C, ++seed), rv = floats(d.C, ++seed, 0.5f, 2.0f);
    std::vector<float> y_ref(n), y(n, kNaN);
    ref::batch_norm_forward_eval(x.data(), w.data(), b.data(), rm.data(), rv.data(), 1e-5f, y_ref.data(), d.N, d.C,
                                 d.HW);
    cpu::batch_norm_forward_eval(x.data(), w.data(), b.data(), rm.data(), rv.data(), 1e-5f, y.data(), d.N, d.C, d.HW);
    EXPECT_TRUE(close(y, y_ref, 1e-5f, 1e-5f));
    std::vector<float> is(d.C);
    for (int64_t c = 0; c < d.C; ++c) is[c] = 1.0f / std::sqrt(rv[c] + 1e-5f);
    std::vector<float> dx_ref(n), dw_ref(d.C), db_ref(d.C), dx(n, kNaN), dw(d.C, kNaN), db(d.C, kNaN);
    ref::batch_norm_backward(x.data(), dy.data(), w.data(), rm.data(), is.data(), false, dx_ref.data(), dw_ref.data(),
                             db_ref.data(), d.N, d.C, d.HW);
    cpu::batch_norm_backward(x.data(), dy.data(), w.data(), rm.data(), is.data(), false, dx.data(), dw.data(),
                             db.data(), d.N, d.C, d.HW);
    EXPECT_TRUE(close(dx, dx_ref, 1e-6f, 1e-5f));
    EXPECT_TRUE(close(dw, dw_ref, 1e-3f, 1e-4f));
    EXPECT_TRUE(close(db, db_ref, 1e-4f, 1e-5f));
  }
}

TEST(BatchNormCpu, BackwardSkipsWhatIsNotWanted) {
  const Dims d{5, 3, 8};
  const int64_t n = d.N * d.C * d.HW;
  std::vector<float> x = floats(n, 300), dy = floats(n, 301), mean = floats(d.C, 302), is = floats(d.C, 303, 0.5f, 2.f);
  std::vector<float> dx_all(n), dx(n, kNaN), dw(d.C);
  cpu::batch_norm_backward(x.data(), dy.data(), nullptr, mean.data(), is.data(), true, dx_all.data(), dw.data(),
                           nullptr, d.N, d.C, d.HW);
  cpu::batch_norm_backward(x.data(), dy.data(), nullptr, mean.data(), is.data(), true, dx.data(), nullptr, nullptr,
                           d.N, d.C, d.HW);
  EXPECT_EQ(dx, dx_all);
  std::vector<float> db(d.C, kNaN);
  cpu::batch_norm_backward(x.data(), dy.data(), nullptr, mean.data(), is.data(), false, nullptr, nullptr, db.data(),
                           d.N, d.C, d.HW);
  for (float v : db) EXPECT_FALSE(std::isnan(v));
}

TEST(BatchNormCpu, SameBitsForOneAndTwoThreads) {
  const Dims d{32, 8, 196};  // large enough for the parallel path
  const int64_t n = d.N * d.C * d.HW;
  std::vector<float> x = floats(n, 400, -1.0f, 3.0f), dy = floats(n, 401), w = floats(d.C, 402), b = floats(d.C, 403);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> y(n), mean(d.C), is(d.C), rm(d.C, 0.0f), rv(d.C, 1.0f), dx(n), dw(d.C), db(d.C);
    cpu::batch_norm_forward_train(x.data(), w.data(), b.data(), y.data(), mean.data(), is.data(), rm.data(), rv.data(),
                                  0.1f, 1e-5f, d.N, d.C, d.HW);
    cpu::batch_norm_backward(x.data(), dy.data(), w.data(), mean.data(), is.data(), true, dx.data(), dw.data(),
                             db.data(), d.N, d.C, d.HW);
    omp_set_num_threads(saved);
    y.insert(y.end(), dx.begin(), dx.end());
    y.insert(y.end(), rv.begin(), rv.end());
    y.insert(y.end(), dw.begin(), dw.end());
    return y;
  };
  EXPECT_EQ(run(1), run(2));
}
