// The fused batch-norm kernels and the channels-last pools on bf16 activations: each must give bitwise
// what its float twin gives on the same values widened to float (sums, statistics, dweight, dbias and
// argmax exactly; y and dx as the float results rounded to bf16), at 1 and 2 threads. Not here: the
// float kernels against their references (test_bn_act_kernels.cpp).
#include <omp.h>

#include <cmath>
#include <cstring>

#include "common/testing.h"
#include "cvtrain/backend/cpu/bn_act.h"
#include "cvtrain/backend/cpu/pool_nhwc.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = store_as<bf16>(v[i]);
  return o;
}
std::vector<float> widen(const std::vector<bf16>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = load_f32(v[i]);
  return o;
}
std::vector<float> rnd(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return random_tensor({n}, seed, lo, hi).to_vector();
}
std::vector<bf16> rnd_bf16(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return to_bf16(rnd(n, seed, lo, hi));
}
uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// bf16 result == the float result rounded, bit for bit (NaN: both NaN)
::testing::AssertionResult rounded_equal(const std::vector<bf16>& got, const std::vector<float>& f32) {
  if (got.size() != f32.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < got.size(); ++i) {
    const uint16_t want = store_as<bf16>(f32[i]).bits;
    const bool both_nan = std::isnan(f32[i]) && std::isnan(load_f32(got[i]));
    if (got[i].bits != want && !both_nan)
      return ::testing::AssertionFailure() << "at " << i << ": bf16 bits " << got[i].bits << ", float " << f32[i]
                                           << " rounds to " << want;
  }
  return ::testing::AssertionSuccess();
}
::testing::AssertionResult bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (bits(a[i]) != bits(b[i])) return ::testing::AssertionFailure() << "at " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

struct Case {
  int64_t N, C, HW;
  bool cl, residual, relu, training;
};

void check_bn_act(const Case& k) {
  SCOPED_TRACE(::testing::Message() << "N " << k.N << " C " << k.C << " HW " << k.HW << " channels_last " << k.cl
                                    << " residual " << k.residual << " relu " << k.relu << " training " << k.training);
  const int64_t n = k.N * k.C * k.HW;
  const cpu::BnLayout l{k.N, k.C, k.HW, k.cl};
  const std::vector<bf16> xb = rnd_bf16(n, 1, -0.5f, 2.0f), rb = rnd_bf16(n, 2), dyb = rnd_bf16(n, 3);
  const std::vector<float> xf = widen(xb), rf = widen(rb), dyf = widen(dyb), w = rnd(k.C, 4, 0.5f, 1.5f),
                           b = rnd(k.C, 5), rm = rnd(k.C, 6), rv = rnd(k.C, 7, 0.5f, 2.0f);
  std::vector<bf16> first_y, first_dx;
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    std::vector<double> scratch(cpu::bn_act_scratch_doubles(l), kNaN);
    // forward: float on the widened values, then bf16
    std::vector<float> yf(n, kNaN), mf(k.C, kNaN), sf(k.C, kNaN), rmf = rm, rvf = rv;
    std::vector<float> mb(k.C, kNaN), sb(k.C, kNaN), rmb = rm, rvb = rv;
    std::vector<bf16> yb(n, bf16{0x7fc1});
    if (k.training) {
      cpu::bn_act_forward_train(xf.data(), w.data(), b.data(), k.residual ? rf.data() : nullptr, k.relu, yf.data(),
                                mf.data(), sf.data(), rmf.data(), rvf.data(), 0.1f, 1e-5f, l, scratch.data(), nullptr);
      cpu::bn_act_forward_train(xb.data(), w.data(), b.data(), k.residual ? rb.data() : nullptr, k.relu, yb.data(),
                                mb.data(), sb.data(), rmb.data(), rvb.data(), 0.1f, 1e-5f, l, scratch.data(), nullptr);
      EXPECT_TRUE(bit_equal(mb, mf));
      EXPECT_TRUE(bit_equal(sb, sf));
      EXPECT_TRUE(bit_equal(rmb, rmf));
      EXPECT_TRUE(bit_equal(rvb, rvf));
    } else {
      for (int64_t c = 0; c < k.C; ++c) mf[c] = mb[c] = rm[c], sf[c] = sb[c] = 1.0f / std::sqrt(rv[c] + 1e-5f);
      cpu::bn_act_forward_eval(xf.data(), w.data(), b.data(), k.residual ? rf.data() : nullptr, k.relu, mf.data(),
                               sf.data(), yf.data(), l, scratch.data());
      cpu::bn_act_forward_eval(xb.data(), w.data(), b.data(), k.residual ? rb.data() : nullptr, k.relu, mb.data(),
                               sb.data(), yb.data(), l, scratch.data());
    }
    EXPECT_TRUE(rounded_equal(yb, yf));
    // backward: both see the stored bf16 y (the float twin its widened values)
    const std::vector<float> ywf = widen(yb);
    std::vector<float> dxf(n, kNaN), drf(n, kNaN), dwf(k.C, kNaN), dbf(k.C, kNaN), dwb(k.C, kNaN), dbb(k.C, kNaN);
    std::vector<bf16> dxb(n, bf16{0x7fc1}), drb(n, bf16{0x7fc1});
    cpu::bn_act_backward(xf.data(), k.relu ? ywf.data() : nullptr, dyf.data(), w.data(), mf.data(), sf.data(), k.relu,
                         k.training, dxf.data(), k.residual ? drf.data() : nullptr, dwf.data(), dbf.data(), l,
                         scratch.data(), nullptr);
    cpu::bn_act_backward(xb.data(), k.relu ? yb.data() : nullptr, dyb.data(), w.data(), mb.data(), sb.data(), k.relu,
                         k.training, dxb.data(), k.residual ? drb.data() : nullptr, dwb.data(), dbb.data(), l,
                         scratch.data(), nullptr);
    EXPECT_TRUE(rounded_equal(dxb, dxf));
    if (k.residual) {
      EXPECT_TRUE(rounded_equal(drb, drf));
    }
    EXPECT_TRUE(bit_equal(dwb, dwf));
    EXPECT_TRUE(bit_equal(dbb, dbf));
    auto same = [](const std::vector<bf16>& a, const std::vector<bf16>& c) {
      return std::memcmp(a.data(), c.data(), a.size() * sizeof(bf16)) == 0;
    };
    if (threads == 1) {
      first_y = yb, first_dx = dxb;
    } else {
      EXPECT_TRUE(same(yb, first_y)) << "bf16 forward depends on the thread count";
      EXPECT_TRUE(same(dxb, first_dx)) << "bf16 backward depends on the thread count";
    }
  }
  omp_set_num_threads(2);
}

}  // namespace

TEST(Bf16ActivationKernels, BnActMatchesFloatOnWidenedValues) {
  // C % 16 == 0 and not (the channels-last register path and the generic one); C dividing 64 (flat
  // blocks of repeated rows, some rows left over) and C a multiple of 64; HW not a multiple of 16 and
  // over 1024 (NCHW lanes' tail and runs); sizes over the parallel threshold
  for (bool cl : {false, true})
    for (const Case& k : {Case{4, 32, 200, cl, true, true, true}, Case{3, 5, 1100, cl, true, true, true},
                          Case{2, 16, 49, cl, false, true, true}, Case{5, 7, 9, cl, true, false, true},
                          Case{3, 6, 10, cl, false, false, true}, Case{4, 32, 200, cl, true, true, false},
                          Case{3, 5, 11, cl, false, true, false}, Case{600, 5, 1, cl, false, true, true},
                          Case{2, 64, 30, cl, true, true, true}, Case{2, 128, 9, cl, false, true, true}})
      check_bn_act(k);
}

// The ReLU mask of the backward is y > 0 on the stored y. bf16 keeps float's exponent range, so a
// positive float rounds to +0 only below half the smallest bf16 subnormal (2^-133): values in
// (0, 2^-134] (the tie 2^-134 goes to even, 0); anything larger stays positive.
TEST(Bf16ActivationKernels, OnlyTinyPositivesRoundToZero) {
  auto from_bits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  EXPECT_EQ(store_as<bf16>(from_bits(0x00000001u)).bits, 0u);  // 2^-149, the smallest float
  EXPECT_EQ(store_as<bf16>(from_bits(0x00008000u)).bits, 0u);  // 2^-134: the tie, to even
  EXPECT_EQ(store_as<bf16>(from_bits(0x00008001u)).bits, 1u);  // just above: the smallest subnormal
  EXPECT_EQ(store_as<bf16>(std::ldexp(1.0f, -133)).bits, 1u);
  EXPECT_GT(load_f32(store_as<bf16>(std::ldexp(1.0f, -126))), 0.0f);  // smallest normal float
  EXPECT_EQ(store_as<bf16>(-from_bits(0x00000001u)).bits, 0x8000u);   // -0: not > 0 either way
}

TEST(Bf16ActivationKernels, PoolsMatchFloatOnWidenedValues) {
  // 2x2/2 with C % 16 == 0 and not, odd rows/columns; 3x3/2 pad 1 (overlapping windows, the generic path)
  for (auto [N, C, H, W, K, S, P] : {std::tuple{4, 32, 28, 28, 2, 2, 0}, {2, 5, 9, 8, 2, 2, 0},
                                      {2, 16, 7, 7, 2, 2, 0}, {3, 16, 7, 7, 3, 2, 1}, {1, 3, 5, 6, 3, 1, 1}}) {
    SCOPED_TRACE(::testing::Message() << "N " << N << " C " << C << " H " << H << " W " << W << " K " << K);
    const Pool2dShape s = make_pool2d_shape(N, C, H, W, K, K, S, S, P, P);
    const int64_t in = int64_t{N} * C * H * W, out = int64_t{N} * C * s.OH * s.OW;
    std::vector<bf16> xb = rnd_bf16(in, 1), dyb = rnd_bf16(out, 2);
    xb[3] = store_as<bf16>(kNaN);  // NaN wins in both
    xb[5] = xb[5 + C];             // ties: the first in window order in both
    const std::vector<float> xf = widen(xb), dyf = widen(dyb);
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      std::vector<float> yf(out, kNaN), dxf(in, kNaN);
      std::vector<bf16> yb(out, bf16{0x7fc1}), dxb(in, bf16{0x7fc1});
      std::vector<int32_t> af(out, -1), ab(out, -2);
      cpu::max_pool2d_forward_nhwc(xf.data(), yf.data(), af.data(), s);
      cpu::max_pool2d_forward_nhwc(xb.data(), yb.data(), ab.data(), s);
      EXPECT_TRUE(rounded_equal(yb, yf));
      EXPECT_EQ(ab, af);
      cpu::max_pool2d_backward_nhwc(dyf.data(), af.data(), dxf.data(), s);
      cpu::max_pool2d_backward_nhwc(dyb.data(), ab.data(), dxb.data(), s);
      EXPECT_TRUE(rounded_equal(dxb, dxf));

      std::vector<float> gf(N * C, kNaN), gb(N * C, kNaN), dg = rnd(N * C, 3), gxf(in, kNaN);
      std::vector<bf16> gxb(in, bf16{0x7fc1});
      cpu::global_avg_pool2d_forward_nhwc(xf.data(), gf.data(), N, C, H * W);
      cpu::global_avg_pool2d_forward_nhwc(xb.data(), gb.data(), N, C, H * W);
      for (int64_t i = 0; i < N * C; ++i) EXPECT_TRUE(bits(gf[i]) == bits(gb[i]) || std::isnan(gf[i])) << i;
      cpu::global_avg_pool2d_backward_nhwc(dg.data(), gxf.data(), N, C, H * W);
      cpu::global_avg_pool2d_backward_nhwc(dg.data(), gxb.data(), N, C, H * W);
      EXPECT_TRUE(rounded_equal(gxb, gxf));
    }
  }
  omp_set_num_threads(2);
}
