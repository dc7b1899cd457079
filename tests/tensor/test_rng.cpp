// Philox4x32-10 against the published known-answer vectors, and the Rng built on it: reproducible
// streams, uniform in [0,1), below(n) in range and unbiased, normal moments, state round trip.
#include <cmath>
#include <set>

#include "common/testing.h"
#include "cvtrain/tensor/rng.h"

using namespace cvtrain;

namespace {
// philox4x32 takes the 128-bit counter as (hi, lo) 64-bit halves and the key as one 64-bit word;
// Random123 writes them as 32-bit words ctr = {c0, c1, c2, c3}, key = {k0, k1}.
std::array<uint32_t, 4> philox_words(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  const uint64_t key = (static_cast<uint64_t>(k[1]) << 32) | k[0];
  const uint64_t hi = (static_cast<uint64_t>(c[3]) << 32) | c[2], lo = (static_cast<uint64_t>(c[1]) << 32) | c[0];
  return philox4x32(key, hi, lo);
}
}  // namespace

// Known answers from Random123's tests/kat_vectors (Salmon et al., SC 2011), lines "philox4x32 10".
TEST(Philox, KnownAnswerVectors) {
  using W = std::array<uint32_t, 4>;
  EXPECT_EQ(philox_words({0, 0, 0, 0}, {0, 0}), (W{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(philox_words({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
            (W{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(philox_words({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
            (W{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Philox, UniformIsAPureFunctionOfKeyStreamIndex) {
  EXPECT_EQ(philox_uniform(7, 3, 12345), philox_uniform(7, 3, 12345));
  EXPECT_NE(philox_uniform(7, 3, 12345), philox_uniform(7, 4, 12345));
  EXPECT_NE(philox_uniform(7, 3, 12345), philox_uniform(8, 3, 12345));
  // element i is word i%4 of block i/4
  EXPECT_EQ(philox_uniform(7, 3, 9), static_cast<float>(philox4x32(7, 3, 2)[1] >> 8) / 16777216.0f);
}

TEST(Rng, SameSeedSameStream) {
  Rng a(42), b(42), c(43);
  std::vector<uint32_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) va.push_back(a.next_u32()), vb.push_back(b.next_u32()), vc.push_back(c.next_u32());
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  EXPECT_EQ(std::set<uint32_t>(va.begin(), va.end()).size(), va.size());  // no repeats in 100 draws
  // stream 0 of the seed is the sequential one
  EXPECT_EQ(va[5], philox4x32(42, 0, 1)[1]);
  EXPECT_EQ(a.next_stream(), 1u);
  EXPECT_EQ(a.next_stream(), 2u);
}

TEST(Rng, StateRoundTripResumesTheSequence) {
  Rng a(5);
  for (int i = 0; i < 7; ++i) a.next_u32();
  a.next_stream();
  const Rng::State s = a.state();
  std::vector<uint32_t> expect;
  for (int i = 0; i < 10; ++i) expect.push_back(a.next_u32());
  Rng b(0);
  b.set_state(s);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.next_u32(), expect[i]);
  EXPECT_EQ(b.next_stream(), a.next_stream());
}

TEST(Rng, UniformInUnitIntervalWithMeanOneHalf) {
  Rng rng(1);
  const int n = 200000;
  double sum = 0, sq = 0;
  float lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform();
    lo = std::min(lo, u), hi = std::max(hi, u);
    sum += u, sq += static_cast<double>(u) * u;
  }
  EXPECT_GE(lo, 0.0f);
  EXPECT_LT(hi, 1.0f);
  const double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.005);        // sd of the mean ~ 0.00065
  EXPECT_NEAR(var, 1.0 / 12, 0.002);
}

TEST(Rng, NormalHasUnitMoments) {
  Rng rng(2);
  const int n = 200000;
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    ASSERT_TRUE(std::isfinite(z));
    sum += z, sq += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.02);
}

TEST(Rng, BelowIsInRangeAndUnbiased) {
  Rng rng(3);
  EXPECT_EQ(rng.below(0), 0u);
  EXPECT_EQ(rng.below(1), 0u);
  // chi-square over 7 bins: 6 degrees of freedom, 99.9% quantile 22.46
  const int k = 7, n = 70000;
  std::vector<int> count(k, 0);
  for (int i = 0; i < n; ++i) {
    const uint64_t r = rng.below(k);
    ASSERT_LT(r, static_cast<uint64_t>(k));
    ++count[r];
  }
  double chi2 = 0;
  for (int c : count) chi2 += (c - n / k) * (c - n / k) / static_cast<double>(n / k);
  EXPECT_LT(chi2, 22.46);
  // a bound just above 2^63: the rejection step matters here (a plain modulo would favour the low half)
  const uint64_t big = (1ull << 63) + 12345;
  int low = 0;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t r = rng.below(big);
    ASSERT_LT(r, big);
    low += r < big / 2;
  }
  EXPECT_NEAR(low, 5000, 250);  // sd 50
}
