// Mixed precision (DnnlRuntime::set_bf16): the oneDNN convolution and matrix-product kernels read
// bf16 copies of what they read and accumulate in f32. Held against the reference twins in double
// on inputs rounded to bf16 (round to nearest even), so the only error left is f32 accumulation:
// the same tolerance as the f32 kernels. And the bf16 path is really taken: on unrounded inputs
// the results move by more than that tolerance. Convolutions with fewer than 16 input channels stay
// in f32 (conv.cpp, use_bf16), and match the unrounded reference.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/testing.h"
#include "cvtrain/backend/cpu/conv.h"
#include "cvtrain/backend/cpu/gemm.h"
#include "cvtrain/backend/ref/conv.h"
#include "cvtrain/backend/ref/gemm.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

double bf16_round(double v) {
  float f = static_cast<float>(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000u;  // round to nearest even
  std::memcpy(&f, &u, 4);
  return f;
}
std::vector<double> rounded(std::vector<double> v) {
  for (double& e : v) e = bf16_round(e);
  return v;
}
std::vector<double> f32_doubles(size_t n, uint64_t seed) {
  std::vector<double> v = random_doubles(n, seed);
  for (double& e : v) e = static_cast<float>(e);
  return v;
}
std::vector<float> to_f32(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// max |fast - exact| over the f32 kernels' tolerance for `terms` products (as test_conv_kernels)
double worst(const std::vector<float>& fast, const std::vector<double>& exact, int64_t terms) {
  const double n = static_cast<double>(terms);
  const double atol = 3e-8 * n + 2e-6 * std::sqrt(n) + 1e-6, rtol = 1e-5;
  double w = 0;
  for (size_t i = 0; i < fast.size(); ++i) {
    if (!std::isfinite(fast[i])) return std::numeric_limits<double>::infinity();
    w = std::max(w, std::fabs(fast[i] - exact[i]) / (atol + rtol * std::fabs(exact[i])));
  }
  return w;
}

void check_conv(int64_t N, int64_t C, int64_t H, int64_t OC, int64_t stride, bool bias, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "N " << N << " C " << C << " H " << H << " OC " << OC);
  const Conv2dShape s = make_conv2d_shape(N, C, H, H, OC, 3, 3, stride, stride, 1, 1, 1, 1, 1);
  const int64_t nx = N * C * H * H, nw = OC * C * 9, ny = N * OC * s.OH * s.OW;
  const std::vector<double> x = f32_doubles(nx, seed), w = f32_doubles(nw, seed + 1), b = f32_doubles(OC, seed + 2),
                            dy = f32_doubles(ny, seed + 3);
  const bool low = C >= 16;
  const std::vector<double> xr = low ? rounded(x) : x, wr = low ? rounded(w) : w, dyr = low ? rounded(dy) : dy;
  std::vector<double> y_ref(ny), dx_ref(nx), dw_ref(nw), db_ref(OC);
  ref::conv2d_forward(xr.data(), wr.data(), bias ? b.data() : nullptr, y_ref.data(), s);
  ref::conv2d_backward_data(wr.data(), dyr.data(), dx_ref.data(), s);
  ref::conv2d_backward_weights(xr.data(), dyr.data(), dw_ref.data(), db_ref.data(), s);
  std::vector<double> y_other(ny);  // what the other precision computes, to tell them apart
  const std::vector<double> xo = low ? x : rounded(x), wo = low ? w : rounded(w);
  ref::conv2d_forward(xo.data(), wo.data(), bias ? b.data() : nullptr, y_other.data(), s);

  Context ctx;
  ctx.dnnl.set_bf16(true);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> xf = to_f32(x), wf = to_f32(w), bf = to_f32(b), dyf = to_f32(dy);
  for (int round = 0; round < 2; ++round) {  // the second on the cached primitives
    std::vector<float> y(ny, nan), dx(nx, nan), dw(nw, nan), db(OC, nan);
    cpu::conv2d_forward(ctx.dnnl, xf.data(), wf.data(), bias ? bf.data() : nullptr, y.data(), s);
    cpu::conv2d_backward_data(ctx.dnnl, wf.data(), dyf.data(), dx.data(), s);
    cpu::conv2d_backward_weights(ctx.dnnl, xf.data(), dyf.data(), dw.data(), bias ? db.data() : nullptr, s);
    EXPECT_LE(worst(y, y_ref, C * 9), 1.0);
    EXPECT_LE(worst(dx, dx_ref, OC * 9), 1.0);
    EXPECT_LE(worst(dw, dw_ref, N * s.OH * s.OW), 1.0);
    if (bias) EXPECT_LE(worst(db, db_ref, N * s.OH * s.OW), 1.0);
    EXPECT_GT(worst(y, y_other, C * 9), 1.0);
  }
}

}  // namespace

TEST(Bf16Kernels, ConvolutionReadsBf16AndAccumulatesInF32) {
  check_conv(2, 1, 12, 16, 1, false, 10);  // one or three input channels: f32
  check_conv(2, 3, 9, 8, 2, true, 20);
  check_conv(4, 32, 8, 64, 1, false, 30);  // Winograd in f32; direct in bf16
  check_conv(2, 16, 9, 32, 2, true, 40);
}

TEST(Bf16Kernels, MatrixProductsReadBf16AndAccumulateInF32) {
  const int64_t N = 16, IN = 200, OUT = 24;
  const std::vector<double> x = f32_doubles(N * IN, 1), w = f32_doubles(OUT * IN, 2), b = f32_doubles(OUT, 3),
                            dy = f32_doubles(N * OUT, 4);
  const std::vector<double> xr = rounded(x), wr = rounded(w), dyr = rounded(dy);
  std::vector<double> y_ref(N * OUT), dx_ref(N * IN), dw_ref(OUT * IN), y_f32(N * OUT);
  ref::gemm(false, true, N, OUT, IN, 1.0, xr.data(), IN, wr.data(), IN, 0.0, y_ref.data(), OUT);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) y_ref[n * OUT + o] += b[o];
  ref::gemm(false, false, N, IN, OUT, 1.0, dyr.data(), OUT, wr.data(), IN, 0.0, dx_ref.data(), IN);
  ref::gemm(true, false, OUT, IN, N, 1.0, dyr.data(), OUT, xr.data(), IN, 0.0, dw_ref.data(), IN);
  ref::gemm(false, true, N, OUT, IN, 1.0, x.data(), IN, w.data(), IN, 0.0, y_f32.data(), OUT);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) y_f32[n * OUT + o] += b[o];

  Context ctx;
  ctx.dnnl.set_bf16(true);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> xf = to_f32(x), wf = to_f32(w), bf = to_f32(b), dyf = to_f32(dy);
  for (int round = 0; round < 2; ++round) {
    std::vector<float> y(N * OUT, nan), dx(N * IN, nan), dw(OUT * IN, nan), db(OUT, nan);
    cpu::linear_forward(ctx.dnnl, xf.data(), wf.data(), bf.data(), y.data(), N, IN, OUT);
    cpu::linear_backward_data(ctx.dnnl, dyf.data(), wf.data(), dx.data(), N, IN, OUT);
    cpu::linear_backward_weights(ctx.dnnl, xf.data(), dyf.data(), dw.data(), db.data(), N, IN, OUT);
    EXPECT_LE(worst(y, y_ref, IN), 1.0);
    EXPECT_LE(worst(dx, dx_ref, OUT), 1.0);
    EXPECT_LE(worst(dw, dw_ref, N), 1.0);
    EXPECT_GT(worst(y, y_f32, IN), 1.0);
  }
  // both operands transposed and stored with padded rows: the bf16 copies keep that orientation
  const int64_t M = 7, K = 40, Ncol = 9, lda = M + 3, ldb = K + 5;  // A stored (K,M), B stored (Ncol,K)
  const std::vector<double> A = f32_doubles(K * lda, 5), B = f32_doubles(Ncol * ldb, 6);
  const std::vector<double> Ar = rounded(A), Br = rounded(B);
  std::vector<double> c_ref(M * Ncol);
  ref::gemm(true, true, M, Ncol, K, 1.0, Ar.data(), lda, Br.data(), ldb, 0.0, c_ref.data(), Ncol);
  const std::vector<float> Af = to_f32(A), Bf = to_f32(B);
  std::vector<float> c(M * Ncol, nan);
  cpu::gemm(ctx.dnnl, true, true, M, Ncol, K, 1.0f, Af.data(), lda, Bf.data(), ldb, 0.0f, c.data(), Ncol);
  EXPECT_LE(worst(c, c_ref, K), 1.0);
}
