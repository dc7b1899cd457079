// Fractional max pooling (Graham 2014): the region sequences' properties (ends, increments of 1 or 2,
// how many 2s, covering the rows once or with one shared row between neighbours), determinism for a
// seed, the pseudo-random formula, the output sizes, the max semantics of the op against a direct
// scan, and its gradient. (PyTorch's F.fractional_max_pool2d samples differently: no fixture.)
#include <algorithm>
#include <cmath>
#include <set>

#include "common/testing.h"
#include "cvtrain/ops/fractional_pool.h"

using namespace cvtrain;
using namespace cvtrain::testing;
using ops::FmpSequence;

namespace {
std::vector<int32_t> sequence(int64_t in, int64_t out, bool overlap, FmpSequence kind, uint64_t key, uint64_t stream) {
  std::vector<int32_t> a(static_cast<size_t>(out + 1), -1);
  ops::fmp_sequence(a.data(), in, out, overlap, kind, key, stream, 0);
  return a;
}
}  // namespace

TEST(FractionalPool, OutputSizes) {
  EXPECT_EQ(ops::fmp_output_size(28, std::sqrt(2.0), true), 19);  // floor(28 / 1.414) = 19
  EXPECT_EQ(ops::fmp_output_size(19, std::sqrt(2.0), true), 13);
  EXPECT_EQ(ops::fmp_output_size(28, 1.5, false), 18);
  EXPECT_EQ(ops::fmp_output_size(3, 1.9, false), 2);  // floor(1.58) = 1 cannot cover 3 rows by steps of 2
  EXPECT_EQ(ops::fmp_output_size(2, 1.5, true), 1);
  EXPECT_THROW(ops::fmp_output_size(28, 2.0, true), Error);
  EXPECT_THROW(ops::fmp_output_size(28, 1.0, true), Error);
  EXPECT_THROW(ops::fmp_output_size(1, 1.5, false), Error);
}

TEST(FractionalPool, SequencesHaveStepsOfOneOrTwoAndCoverTheRows) {
  for (FmpSequence kind : {FmpSequence::random, FmpSequence::pseudo_random})
    for (bool overlap : {false, true})
      for (int64_t in = 2; in <= 40; ++in)
        for (double ratio : {1.1, 1.414, 1.7, 1.99}) {
          const int64_t out = ops::fmp_output_size(in, ratio, overlap), total = overlap ? in - 1 : in;
          for (uint64_t seed = 0; seed < 5; ++seed) {
            std::vector<int32_t> a = sequence(in, out, overlap, kind, seed, 3);
            ASSERT_EQ(a.front(), 0);
            ASSERT_EQ(a.back(), total) << "in " << in << " out " << out;
            int64_t twos = 0;
            for (int64_t i = 0; i < out; ++i) {
              const int32_t step = a[i + 1] - a[i];
              ASSERT_TRUE(step == 1 || step == 2) << "in " << in << " step " << step;
              twos += step == 2;
            }
            ASSERT_EQ(twos, total - out);
            // each row in exactly one disjoint region [a_i, a_{i+1}); in one or two overlapping ones
            // [a_i, a_{i+1}], two exactly at the shared ends a_1 .. a_{out-1}
            std::vector<int> cover(static_cast<size_t>(in), 0);
            for (int64_t i = 0; i < out; ++i)
              for (int32_t r = a[i]; r < a[i + 1] + (overlap ? 1 : 0); ++r) ++cover[static_cast<size_t>(r)];
            for (int64_t r = 0; r < in; ++r) {
              const bool shared = overlap && std::find(a.begin() + 1, a.end() - 1, r) != a.end() - 1;
              ASSERT_EQ(cover[static_cast<size_t>(r)], shared ? 2 : 1) << "row " << r << " of " << in;
            }
          }
        }
}

TEST(FractionalPool, SequencesAreDeterministicForASeedAndVaryOtherwise) {
  for (FmpSequence kind : {FmpSequence::random, FmpSequence::pseudo_random}) {
    EXPECT_EQ(sequence(28, 19, true, kind, 7, 2), sequence(28, 19, true, kind, 7, 2));
    std::set<std::vector<int32_t>> seen;
    for (uint64_t s = 0; s < 40; ++s) seen.insert(sequence(28, 19, true, kind, 7, s));
    EXPECT_GT(seen.size(), 5u) << ops::fmp_sequence_name(kind);
  }
}

TEST(FractionalPool, RandomSequencesPlaceTheTwosUniformly) {
  // each of the 19 positions holds a 2 with probability 8/19 (27 - 19 twos for 28 overlapping rows)
  const int trials = 4000;
  std::vector<int> twos(19, 0);
  for (int t = 0; t < trials; ++t) {
    std::vector<int32_t> a = sequence(28, 19, true, FmpSequence::random, 1, static_cast<uint64_t>(t) + 1);
    for (int i = 0; i < 19; ++i) twos[i] += a[i + 1] - a[i] == 2;
  }
  const double p = 8.0 / 19, sd = std::sqrt(trials * p * (1 - p));
  for (int i = 0; i < 19; ++i) EXPECT_NEAR(twos[i], trials * p, 5 * sd) << i;
}

TEST(FractionalPool, PseudoRandomIsCeilOfAlphaTimesIPlusU) {
  // a_i = ceil(alpha (i + u)) - ceil(alpha u), u from the first Philox uniform, alpha = total/out
  const int64_t in = 25, out = 17;
  std::vector<int32_t> a = sequence(in, out, false, FmpSequence::pseudo_random, 4, 9);
  const double u = philox_uniform(4, 9, 0), alpha = static_cast<double>(in) / out;
  for (int64_t i = 0; i <= out; ++i)
    EXPECT_EQ(a[i], static_cast<int32_t>(std::ceil(alpha * (i + u) - 1e-9) - std::ceil(alpha * u - 1e-9))) << i;
}

TEST(FractionalPool, OutputIsTheMaximumOfEachRegion) {
  const int64_t N = 3, C = 2, H = 11, W = 9;
  for (bool overlap : {false, true}) {
    const int64_t OH = ops::fmp_output_size(H, 1.414, overlap), OW = ops::fmp_output_size(W, 1.414, overlap);
    Tensor rows = Tensor::empty({N, OH + 1}, DType::i32), cols = Tensor::empty({N, OW + 1}, DType::i32);
    for (int64_t n = 0; n < N; ++n) {  // a different sequence per sample
      ops::fmp_sequence(rows.data<int32_t>() + n * (OH + 1), H, OH, overlap, FmpSequence::random, 1, n + 1, 0);
      ops::fmp_sequence(cols.data<int32_t>() + n * (OW + 1), W, OW, overlap, FmpSequence::random, 2, n + 1, 0);
    }
    Tensor x = random_tensor({N, C, H, W}, 5);
    Context ctx;
    Variable y = ops::fractional_max_pool2d(ctx, Variable(x), rows, cols, overlap);
    ASSERT_EQ(y.shape(), (Shape{N, C, OH, OW}));
    std::vector<float> vy = y.data().to_vector(), vx = x.to_vector();
    const int32_t* a = rows.data<int32_t>();
    const int32_t* b = cols.data<int32_t>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j) {
            float m = -INFINITY;
            for (int64_t h = a[n * (OH + 1) + i]; h < a[n * (OH + 1) + i + 1] + overlap; ++h)
              for (int64_t w = b[n * (OW + 1) + j]; w < b[n * (OW + 1) + j + 1] + overlap; ++w)
                m = std::max(m, vx[((n * C + c) * H + h) * W + w]);
            ASSERT_EQ(vy[((n * C + c) * OH + i) * OW + j], m) << n << " " << c << " " << i << " " << j;
          }
  }
}

TEST(FractionalPool, GradientCheckAndBadRegionsRejected) {
  const int64_t N = 2, H = 5, W = 6;
  // distinct values 0.05 apart, so the finite-difference step (0.01) never changes which one is the maximum
  Tensor x = random_tensor({N, 2, H, W}, 6);
  {
    std::vector<float> v = x.to_vector();
    std::vector<size_t> order(v.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
    for (size_t r = 0; r < order.size(); ++r) x.data<float>()[order[r]] = 0.05f * static_cast<float>(r) - 3.0f;
  }
  for (bool overlap : {true, false}) {
    const int64_t OH = ops::fmp_output_size(H, 1.5, overlap), OW = ops::fmp_output_size(W, 1.5, overlap);
    EXPECT_TRUE(check_op_gradients(
        [&](Context& c, const std::vector<Variable>& in) {
          Tensor rows = Tensor::empty({N, OH + 1}, DType::i32), cols = Tensor::empty({N, OW + 1}, DType::i32);
          for (int64_t n = 0; n < N; ++n) {
            ops::fmp_sequence(rows.data<int32_t>() + n * (OH + 1), H, OH, overlap, FmpSequence::random, 3, n + 1, 0);
            ops::fmp_sequence(cols.data<int32_t>() + n * (OW + 1), W, OW, overlap, FmpSequence::pseudo_random, 4,
                              n + 1, 0);
          }
          return ops::fractional_max_pool2d(c, in[0], rows, cols, overlap);
        },
        {x}))
        << "overlap " << overlap;
  }
  // region starts that leave the plane or do not increase are rejected
  Context ctx;
  Variable v(x);
  Tensor rows = Tensor::empty({N, 4}, DType::i32), cols = Tensor::empty({N, 5}, DType::i32);
  for (int64_t n = 0; n < N; ++n) {
    ops::fmp_sequence(rows.data<int32_t>() + n * 4, H, 3, false, FmpSequence::random, 3, n + 1, 0);
    ops::fmp_sequence(cols.data<int32_t>() + n * 5, W, 4, false, FmpSequence::random, 3, n + 1, 0);
  }
  EXPECT_NO_THROW(ops::fractional_max_pool2d(ctx, v, rows, cols, false));
  EXPECT_THROW(ops::fractional_max_pool2d(ctx, v, rows, cols, true), Error);  // overlapping would reach row H
  Tensor bad = rows.clone();
  bad.data<int32_t>()[1] = 0;  // an empty region
  EXPECT_THROW(ops::fractional_max_pool2d(ctx, v, bad, cols, false), Error);
  EXPECT_THROW(ops::fractional_max_pool2d(ctx, v, rows, Tensor::empty({N, 5}), false), Error);  // f32 starts
}
