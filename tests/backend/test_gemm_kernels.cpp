// Matrix-product kernels: the backward formulas of matmul/linear checked by finite differences in
// double on the reference gemm, then cpu::gemm and the linear kernels held against the reference
// (in double) on every transpose combination, padded leading dimensions, and the MLP/CNN layers.
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/testing.h"
#include "cvtrain/backend/cpu/gemm.h"
#include "cvtrain/backend/ref/gemm.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {


// Random doubles that are exactly f32 values, and their f32 copy.
std::vector<double> f32_doubles(size_t n, uint64_t seed) {
  std::vector<double> v = random_doubles(n, seed);
  for (double& e : v) e = static_cast<float>(e);
  return v;
}
std::vector<float> to_f32(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

void expect_close_to(const std::vector<float>& fast, const std::vector<double>& exact, int64_t terms,
                     const char* what) {
  const double n = static_cast<double>(terms);
  const double atol = 3e-8 * n + 2e-6 * std::sqrt(n) + 1e-6, rtol = 1e-5;
  for (size_t i = 0; i < fast.size(); ++i)
    ASSERT_TRUE(std::fabs(fast[i] - exact[i]) <= atol + rtol * std::fabs(exact[i]))
        << what << " element " << i << " of " << fast.size() << ": " << fast[i] << " vs " << exact[i];
}

TEST(GemmRef, ComputesAKnownProduct) {
  const double a[6] = {1, 2, 3, 4, 5, 6};     // (2,3)
  const double b[6] = {1, 0, 0, 1, 1, 1};     // (3,2)
  double c[4] = {10, 10, 10, 10};
  ref::gemm(false, false, 2, 2, 3, 1.0, a, 3, b, 2, 0.5, c, 2);  // a b + 0.5 c
  EXPECT_EQ(std::vector<double>(c, c + 4), (std::vector<double>{9, 10, 15, 16}));
  double d[6];
  ref::gemm(true, false, 3, 2, 2, 1.0, a, 3, a, 3, 0.0, d, 2);  // (a^T a)[:, :2], B read through ldb=3
  EXPECT_EQ(std::vector<double>(d, d + 6), (std::vector<double>{17, 22, 22, 29, 27, 36}));
}

TEST(GemmRef, BackwardFormulasMatchFiniteDifferencesInDouble) {
  // L = sum((a b) * r): dL/da = r b^T, dL/db = a^T r, as matmul's and linear's backward compute them
  const int64_t M = 4, K = 5, N = 3;
  std::vector<double> a = random_doubles(M * K, 1), b = random_doubles(K * N, 2), r = random_doubles(M * N, 3);
  std::vector<double> c(M * N);
  auto loss = [&](const std::vector<double>& av, const std::vector<double>& bv) {
    ref::gemm(false, false, M, N, K, 1.0, av.data(), K, bv.data(), N, 0.0, c.data(), N);
    return dot(c, r);
  };
  std::vector<double> da(M * K), db(K * N);
  ref::gemm(false, true, M, K, N, 1.0, r.data(), N, b.data(), N, 0.0, da.data(), K);
  ref::gemm(true, false, K, N, M, 1.0, a.data(), K, r.data(), N, 0.0, db.data(), N);
  EXPECT_TRUE(all_close(da, numeric_grad([&](const std::vector<double>& v) { return loss(v, b); }, a)));
  EXPECT_TRUE(all_close(db, numeric_grad([&](const std::vector<double>& v) { return loss(a, v); }, b)));

  // linear y = x w^T + bias: dx = dy w, dw = dy^T x, dbias = column sums of dy
  const int64_t B = 3, IN = 4, OUT = 2;
  std::vector<double> x = random_doubles(B * IN, 4), w = random_doubles(OUT * IN, 5), bias = random_doubles(OUT, 6);
  std::vector<double> ry = random_doubles(B * OUT, 7), y(B * OUT);
  auto linear_loss = [&](const std::vector<double>& xv, const std::vector<double>& wv, const std::vector<double>& bv) {
    for (int64_t n = 0; n < B; ++n)
      for (int64_t o = 0; o < OUT; ++o) y[n * OUT + o] = bv[o];
    ref::gemm(false, true, B, OUT, IN, 1.0, xv.data(), IN, wv.data(), IN, 1.0, y.data(), OUT);
    return dot(y, ry);
  };
  std::vector<double> dx(B * IN), dw(OUT * IN), dbias(OUT, 0.0);
  ref::gemm(false, false, B, IN, OUT, 1.0, ry.data(), OUT, w.data(), IN, 0.0, dx.data(), IN);
  ref::gemm(true, false, OUT, IN, B, 1.0, ry.data(), OUT, x.data(), IN, 0.0, dw.data(), IN);
  for (int64_t n = 0; n < B; ++n)
    for (int64_t o = 0; o < OUT; ++o) dbias[o] += ry[n * OUT + o];
  EXPECT_TRUE(all_close(dx, numeric_grad([&](const std::vector<double>& v) { return linear_loss(v, w, bias); }, x)));
  EXPECT_TRUE(all_close(dw, numeric_grad([&](const std::vector<double>& v) { return linear_loss(x, v, bias); }, w)));
  EXPECT_TRUE(all_close(dbias, numeric_grad([&](const std::vector<double>& v) { return linear_loss(x, w, v); }, bias)));
}

TEST(GemmKernels, MatchesReferenceForEveryTransposeAndLeadingDimension) {
  Context ctx;
  uint64_t seed = 10;
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 10, 256}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (int64_t pad : {0, 3}) {  // leading dimensions larger than the rows
          for (auto [alpha, beta] : {std::pair<float, float>{1.0f, 0.0f}, {0.5f, 0.0f}, {1.0f, 1.0f}, {-2.0f, 0.25f}}) {
            SCOPED_TRACE(::testing::Message() << M << "x" << N << "x" << K << " ta=" << ta << " tb=" << tb
                                              << " pad=" << pad << " alpha=" << alpha << " beta=" << beta);
            const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            std::vector<double> a = f32_doubles((ta ? K : M) * lda, seed++), b = f32_doubles((tb ? N : K) * ldb, seed++);
            std::vector<double> c = f32_doubles(M * ldc, seed++);
            std::vector<float> cf = to_f32(c);
            if (beta == 0.0f) std::fill(cf.begin(), cf.end(), kNaN);  // beta 0 must not read C
            std::vector<double> c_ref = c;
            ref::gemm<double>(ta, tb, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, c_ref.data(), ldc);
            cpu::gemm(ctx.dnnl, ta, tb, M, N, K, alpha, to_f32(a).data(), lda, to_f32(b).data(), ldb, beta, cf.data(),
                      ldc);
            // the padding columns of C stay as they were
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = N; j < ldc; ++j) {
                cf[i * ldc + j] = 0;
                c_ref[i * ldc + j] = 0;
              }
            expect_close_to(cf, c_ref, K, "C");
          }
        }
}

TEST(GemmKernels, EmptyInnerDimensionGivesZeroOrScaledC) {
  Context ctx;
  std::vector<float> c(6, kNaN);
  cpu::gemm(ctx.dnnl, false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, c.data(), 3);
  EXPECT_EQ(c, std::vector<float>(6, 0.0f));
  std::vector<float> c2(6, 2.0f);
  cpu::gemm(ctx.dnnl, false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, c2.data(), 3);
  EXPECT_EQ(c2, std::vector<float>(6, 1.0f));
}

void check_linear(int64_t B, int64_t IN, int64_t OUT, bool bias, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "linear " << B << "x" << IN << " -> " << OUT << (bias ? " bias" : ""));
  Context ctx;
  std::vector<double> x = f32_doubles(B * IN, seed), w = f32_doubles(OUT * IN, seed + 1);
  std::vector<double> b = f32_doubles(OUT, seed + 2), dy = f32_doubles(B * OUT, seed + 3);
  std::vector<double> y_ref(B * OUT), dx_ref(B * IN), dw_ref(OUT * IN), db_ref(OUT, 0.0);
  for (int64_t n = 0; n < B; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      y_ref[n * OUT + o] = bias ? b[o] : 0.0;
      db_ref[o] += dy[n * OUT + o];
    }
  ref::gemm(false, true, B, OUT, IN, 1.0, x.data(), IN, w.data(), IN, 1.0, y_ref.data(), OUT);
  ref::gemm(false, false, B, IN, OUT, 1.0, dy.data(), OUT, w.data(), IN, 0.0, dx_ref.data(), IN);
  ref::gemm(true, false, OUT, IN, B, 1.0, dy.data(), OUT, x.data(), IN, 0.0, dw_ref.data(), IN);

  std::vector<float> xf = to_f32(x), wf = to_f32(w), bf = to_f32(b), dyf = to_f32(dy);
  std::vector<float> y(B * OUT, kNaN), dx(B * IN, kNaN), dw(OUT * IN, kNaN), db(OUT, kNaN);
  cpu::linear_forward(ctx.dnnl, xf.data(), wf.data(), bias ? bf.data() : nullptr, y.data(), B, IN, OUT);
  cpu::linear_backward_data(ctx.dnnl, dyf.data(), wf.data(), dx.data(), B, IN, OUT);
  cpu::linear_backward_weights(ctx.dnnl, xf.data(), dyf.data(), dw.data(), db.data(), B, IN, OUT);
  expect_close_to(y, y_ref, IN, "y");
  expect_close_to(dx, dx_ref, OUT, "dx");
  expect_close_to(dw, dw_ref, B, "dw");
  expect_close_to(db, db_ref, B, "db");
}

TEST(GemmKernels, LinearMatchesReferenceOnTheMlpAndCnnLayers) {
  check_linear(128, 784, 512, true, 100);
  check_linear(128, 512, 256, true, 200);
  check_linear(128, 256, 10, true, 300);
  check_linear(128, 3136, 128, true, 400);
  check_linear(128, 128, 10, true, 500);
  check_linear(96, 784, 512, false, 600);  // the last, short batch of an epoch
  check_linear(1, 3, 1, true, 700);
}

TEST(GemmKernels, BiasBackwardIsTheSameForAnyThreadCount) {
  // db is partitioned by column, each column summed over the rows in order: bitwise reproducible
  const int64_t B = 300, OUT = 1000;
  std::vector<float> dy = to_f32(random_doubles(B * OUT, 9));
  std::vector<float> db1(OUT, kNaN), db2(OUT, kNaN);
  const int keep = omp_get_max_threads();
  omp_set_num_threads(1);
  cpu::bias_backward(dy.data(), db1.data(), B, OUT);
  omp_set_num_threads(2);
  cpu::bias_backward(dy.data(), db2.data(), B, OUT);
  omp_set_num_threads(keep);
  EXPECT_EQ(db1, db2);
  float sum = 0;
  for (int64_t n = 0; n < B; ++n) sum += dy[n * OUT + 7];
  EXPECT_EQ(db1[7], sum);
}

}  // namespace
