// Fractional max pooling kernels: the reference backward against finite differences in double (disjoint
// and overlapping regions, per-sample sequences), then the fast kernels against the reference with
// NaN-prefilled outputs.
#include <omp.h>

#include <cmath>

#include "common/testing.h"
#include "cvtrain/backend/cpu/fractional_pool.h"
#include "cvtrain/backend/ref/fractional_pool.h"
#include "cvtrain/ops/fractional_pool.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

// Region starts for every sample of a batch, as the layer draws them.
struct Regions {
  FractionalPool2dShape s;
  std::vector<int32_t> rows, cols;
};

Regions make_regions(int64_t N, int64_t C, int64_t H, int64_t W, double ratio, bool overlap, ops::FmpSequence kind,
                     uint64_t seed) {
  Regions r;
  const int64_t OH = ops::fmp_output_size(H, ratio, overlap), OW = ops::fmp_output_size(W, ratio, overlap);
  r.s = {N, C, H, W, OH, OW, overlap ? 1 : 0};
  r.rows.resize(N * (OH + 1));
  r.cols.resize(N * (OW + 1));
  for (int64_t n = 0; n < N; ++n) {
    ops::fmp_sequence(r.rows.data() + n * (OH + 1), H, OH, overlap, kind, seed, 1, (2 * n) << 16);
    ops::fmp_sequence(r.cols.data() + n * (OW + 1), W, OW, overlap, kind, seed, 1, (2 * n + 1) << 16);
  }
  return r;
}

struct Case {
  int64_t N, C, H, W;
  double ratio;
  bool overlap;
  ops::FmpSequence kind;
};

const std::vector<Case> kCases = {
    {2, 2, 7, 6, 1.414, true, ops::FmpSequence::random},
    {2, 3, 7, 9, 1.5, false, ops::FmpSequence::random},
    {3, 1, 8, 5, 1.3, true, ops::FmpSequence::pseudo_random},
    {1, 2, 6, 6, 1.9, false, ops::FmpSequence::pseudo_random},
    {2, 1, 2, 3, 1.5, true, ops::FmpSequence::random},  // the smallest maps
};

}  // namespace

TEST(FractionalPoolRef, BackwardMatchesFiniteDifferences) {
  uint64_t seed = 1;
  for (const Case& c : kCases) {
    const Regions g = make_regions(c.N, c.C, c.H, c.W, c.ratio, c.overlap, c.kind, seed++);
    const FractionalPool2dShape& s = g.s;
    const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
    std::vector<double> x = random_doubles(nin, seed), r = random_doubles(nout, seed + 100), y(nout), dx(nin);
    std::vector<int32_t> argmax(nout);
    auto f = [&](const std::vector<double>& v) {
      std::vector<double> out(nout);
      std::vector<int32_t> am(nout);
      ref::fractional_max_pool2d_forward(v.data(), g.rows.data(), g.cols.data(), out.data(), am.data(), s);
      return dot(out, r);
    };
    ref::fractional_max_pool2d_forward(x.data(), g.rows.data(), g.cols.data(), y.data(), argmax.data(), s);
    ref::fractional_max_pool2d_backward(r.data(), argmax.data(), dx.data(), s);
    EXPECT_TRUE(all_close(dx, numeric_grad(f, x), 1e-6, 1e-6)) << "H=" << s.H << " overlap=" << s.overlap;
  }
}

TEST(FractionalPoolCpu, EqualsReference) {
  std::vector<Case> cases = kCases;
  cases.push_back({4, 16, 28, 28, 1.414, true, ops::FmpSequence::random});  // the parallel path
  const int saved = omp_get_max_threads();
  uint64_t seed = 20;
  for (const Case& c : cases) {
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      const Regions g = make_regions(c.N, c.C, c.H, c.W, c.ratio, c.overlap, c.kind, seed);
      const FractionalPool2dShape& s = g.s;
      const int64_t nin = s.N * s.C * s.H * s.W, nout = s.N * s.C * s.OH * s.OW;
      Tensor x = random_tensor({nin}, seed), dy = random_tensor({nout}, seed + 1);
      std::vector<float> y(nout, kNaN), y_ref(nout), dx(nin, kNaN), dx_ref(nin);
      std::vector<int32_t> am(nout, -7), am_ref(nout);
      cpu::fractional_max_pool2d_forward(x.data<float>(), g.rows.data(), g.cols.data(), y.data(), am.data(), s);
      ref::fractional_max_pool2d_forward(x.data<float>(), g.rows.data(), g.cols.data(), y_ref.data(), am_ref.data(), s);
      EXPECT_EQ(y, y_ref) << "H=" << s.H;
      EXPECT_EQ(am, am_ref) << "H=" << s.H;
      cpu::fractional_max_pool2d_backward(dy.data<float>(), am.data(), dx.data(), s);
      ref::fractional_max_pool2d_backward(dy.data<float>(), am_ref.data(), dx_ref.data(), s);
      EXPECT_EQ(dx, dx_ref) << "H=" << s.H;
    }
    ++seed;
  }
  omp_set_num_threads(saved);
}

TEST(FractionalPoolCpu, NanWins) {
  const FractionalPool2dShape s{1, 1, 3, 3, 1, 1, 0};
  const int32_t rows[2] = {0, 2}, cols[2] = {0, 2};  // the top-left 2x2 region
  const float x[9] = {1, kNaN, 0, 5, 2, 0, 9, 9, 9};
  float y = 0;
  int32_t am = -1;
  cpu::fractional_max_pool2d_forward(x, rows, cols, &y, &am, s);
  EXPECT_TRUE(std::isnan(y));
  EXPECT_EQ(am, 1);
}
