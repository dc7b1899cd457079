// Binary broadcasting kernels: the backward math by finite differences in double on the reference
// twins (per-element gradients summed back over broadcast dims), then the fast f32 kernels against
// the reference on random shapes, broadcasts and strided views, outputs pre-filled with NaN.
#include <cmath>
#include <limits>

#include "common/testing.h"
#include "cvtrain/backend/cpu/binary.h"
#include "cvtrain/backend/ref/binary.h"
#include "cvtrain/backend/ref/reduce.h"
#include "cvtrain/tensor/rng.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

constexpr BinaryOp kOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div};
const char* op_name(BinaryOp op) {
  const char* names[] = {"add", "sub", "mul", "div"};
  return names[static_cast<int>(op)];
}

Shape broadcast(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1, db = i < b.size() ? b[b.size() - 1 - i] : 1;
    out[out.size() - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// Strides of a packed tensor of `shape` read as broadcast to `out` (0 along stretched dims).
Shape broadcast_strides(const Shape& shape, const Shape& out) { return Tensor::empty(shape).expand(out).strides(); }

// Which dims of `out` are summed to get back to `shape` (leading dims and stretched size-1 dims).
std::vector<uint8_t> reduced_dims(const Shape& shape, const Shape& out) {
  std::vector<uint8_t> r(out.size());
  const size_t lead = out.size() - shape.size();
  for (size_t d = 0; d < out.size(); ++d) r[d] = d < lead || (shape[d - lead] == 1 && out[d] != 1);
  return r;
}

std::vector<float> nan_vector(int64_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

::testing::AssertionResult same(const std::vector<float>& fast, const std::vector<float>& ref, float tol = 1e-6f) {
  for (size_t i = 0; i < fast.size(); ++i)
    if (!(std::fabs(fast[i] - ref[i]) <= tol * (1.0f + std::fabs(ref[i]))))
      return ::testing::AssertionFailure() << "element " << i << ": fast " << fast[i] << " vs ref " << ref[i];
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_nan(const std::vector<float>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isnan(v[i])) return ::testing::AssertionFailure() << "element " << i << " was written: " << v[i];
  return ::testing::AssertionSuccess();
}

}  // namespace

// L(a, b) = sum(R * (a op b)) in double; its gradient from the reference backward (per-element
// gradients, then sum_forward over the broadcast dims) against central differences.
TEST(BinaryKernels, RefBackwardMatchesFiniteDifferencesInDouble) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 1, 4}, {2, 1}}, {{2, 3}, {2, 3}}, {{4}, {2, 3, 4}}, {{1}, {2, 2}}, {{2, 1, 3}, {1, 4, 1}}, {{}, {3}}};
  for (const auto& [as, bs] : cases) {
    const Shape out = broadcast(as, bs);
    const Shape sa = broadcast_strides(as, out), sb = broadcast_strides(bs, out);
    const size_t na = shape_numel(as), nb = shape_numel(bs), n = shape_numel(out);
    const std::vector<double> r = random_doubles(n, 7);
    for (BinaryOp op : kOps) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + shape_str(as) + " with " + shape_str(bs));
      std::vector<double> x = random_doubles(na + nb, 11, 0.5, 2.0);  // a then b; b away from 0 for div
      for (size_t i = 0; i < na; i += 2) x[i] = -x[i];
      auto loss = [&](const std::vector<double>& v) {
        std::vector<double> y(n);
        ref::binary_forward<double>(op, v.data(), sa.data(), v.data() + na, sb.data(), y.data(), out.data(),
                                    out.size());
        double s = 0;
        for (size_t i = 0; i < n; ++i) s += r[i] * y[i];
        return s;
      };
      std::vector<double> da_full(n), db_full(n), grad(na + nb);
      ref::binary_backward<double>(op, x.data(), sa.data(), x.data() + na, sb.data(), r.data(), da_full.data(),
                                   db_full.data(), out.data(), out.size());
      const auto ra = reduced_dims(as, out), rb = reduced_dims(bs, out);
      ref::sum_forward<double>(da_full.data(), out.data(), ra.data(), out.size(), 1.0, grad.data());
      ref::sum_forward<double>(db_full.data(), out.data(), rb.data(), out.size(), 1.0, grad.data() + na);
      EXPECT_TRUE(all_close(grad, numeric_grad(loss, x)));
    }
  }
}

TEST(BinaryKernels, RefForwardKnownValues) {
  // a: (3,1) = [1,2,3], b: (2) = [10,20] -> a - b: (3,2)
  const float a[] = {1, 2, 3}, b[] = {10, 20};
  const int64_t shape[] = {3, 2}, sa[] = {1, 0}, sb[] = {0, 1};
  float y[6];
  ref::binary_forward<float>(BinaryOp::sub, a, sa, b, sb, y, shape, 2);
  EXPECT_EQ(std::vector<float>(y, y + 6), (std::vector<float>{-9, -19, -8, -18, -7, -17}));
}

namespace {

// One fast-vs-ref comparison for all ops on operands given as tensors (any strides) broadcast to `out`.
void compare_fast_ref(const Tensor& a, const Tensor& b) {
  const Shape out = broadcast(a.shape(), b.shape());
  const Tensor ae = a.expand(out), be = b.expand(out);
  const int64_t n = shape_numel(out), nd = static_cast<int64_t>(out.size());
  const Tensor g = random_tensor(out, 5);
  for (BinaryOp op : kOps) {
    SCOPED_TRACE(std::string(op_name(op)) + " " + a.describe() + " with " + b.describe());
    std::vector<float> yf = nan_vector(n), yr = nan_vector(n);
    cpu::binary_forward(op, ae.data<float>(), ae.strides().data(), be.data<float>(), be.strides().data(), yf.data(),
                        out.data(), nd);
    ref::binary_forward<float>(op, ae.data<float>(), ae.strides().data(), be.data<float>(), be.strides().data(),
                               yr.data(), out.data(), nd);
    EXPECT_TRUE(same(yf, yr));
    for (int which = 0; which < 3; ++which) {  // both gradients, only da, only db
      std::vector<float> daf = nan_vector(n), dbf = nan_vector(n), dar = nan_vector(n), dbr = nan_vector(n);
      const bool want_a = which != 2, want_b = which != 1;
      cpu::binary_backward(op, ae.data<float>(), ae.strides().data(), be.data<float>(), be.strides().data(),
                           g.data<float>(), want_a ? daf.data() : nullptr, want_b ? dbf.data() : nullptr, out.data(),
                           nd);
      ref::binary_backward<float>(op, ae.data<float>(), ae.strides().data(), be.data<float>(), be.strides().data(),
                                  g.data<float>(), want_a ? dar.data() : nullptr, want_b ? dbr.data() : nullptr,
                                  out.data(), nd);
      EXPECT_TRUE(want_a ? same(daf, dar, 1e-5f) : all_nan(daf));  // a null output is not written
      EXPECT_TRUE(want_b ? same(dbf, dbr, 1e-5f) : all_nan(dbf));
    }
  }
}

// Values in [0.5, 1.5) with random signs, so div never meets a tiny divisor.
Tensor operand(const Shape& s, uint64_t seed) {
  Tensor t = random_tensor(s, seed, 0.5f, 1.5f);
  Rng rng(seed + 1000);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (rng.uniform() < 0.5f) p[i] = -p[i];
  return t;
}

}  // namespace

TEST(BinaryKernels, FastMatchesRefOnFixedCases) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3}, {2, 3}},          // same shape, packed
      {{5, 7}, {1}},             // scalar operand
      {{}, {4, 3}},              // 0-d operand
      {{3, 1, 4}, {2, 1}},       // both broadcast
      {{4, 1}, {1, 5}},          // outer product
      {{2, 3, 4, 5}, {3, 1, 1}}, // per-channel
      {{1, 1, 6}, {6}},          // size-1 dims only
      {{0, 3}, {3}},             // empty
      {{70000}, {70000}},        // parallel packed path, several chunks
      {{40000, 3}, {1}},         // parallel scalar path
      {{3, 20000}, {3, 1}},      // parallel strided path, rows longer than a chunk
      {{300, 200}, {200}},       // parallel strided path, many rows
  };
  uint64_t seed = 1;
  for (const auto& [as, bs] : cases) {
    compare_fast_ref(operand(as, seed), operand(bs, seed + 1));
    compare_fast_ref(operand(bs, seed + 2), operand(as, seed + 3));
    seed += 4;
  }
}

TEST(BinaryKernels, FastMatchesRefOnStridedViews) {
  Tensor a = operand({4, 5, 6}, 21).permute({2, 0, 1});           // (6,4,5), not packed
  Tensor b = operand({5, 4}, 22).permute({1, 0});                  // (4,5)
  compare_fast_ref(a, b);
  compare_fast_ref(a, operand({6, 4, 5}, 23));
  compare_fast_ref(operand({8, 10}, 24).slice(1, 1, 9, 2), operand({8, 1}, 25));  // step-2 slice
  compare_fast_ref(operand({3, 1}, 26).expand({3, 7}), operand({7}, 27));          // stride-0 view as input
  compare_fast_ref(operand({3, 1}, 28).expand({3, 7}), operand({1}, 29));          // rows where neither moves
}

TEST(BinaryKernels, FastMatchesRefOnRandomShapes) {
  Rng rng(2024);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t nd = 1 + static_cast<int64_t>(rng.below(4));
    Shape out(nd), as, bs;
    for (auto& d : out) d = 1 + static_cast<int64_t>(rng.below(5));
    // each operand keeps a random suffix of the dims and sets random dims to 1
    const int64_t la = static_cast<int64_t>(rng.below(nd + 1)), lb = static_cast<int64_t>(rng.below(nd + 1));
    for (int64_t d = la; d < nd; ++d) as.push_back(rng.below(3) == 0 ? 1 : out[d]);
    for (int64_t d = lb; d < nd; ++d) bs.push_back(rng.below(3) == 0 ? 1 : out[d]);
    compare_fast_ref(operand(as, 100 + trial), operand(bs, 200 + trial));
  }
}

TEST(BinaryKernels, OutputMayAliasPackedInput) {
  Tensor a = operand({50000}, 31), b = operand({50000}, 32);
  std::vector<float> expect = nan_vector(a.numel());
  const int64_t shape[] = {50000}, unit[] = {1};
  ref::binary_forward<float>(BinaryOp::mul, a.data<float>(), unit, b.data<float>(), unit, expect.data(), shape, 1);
  cpu::binary_forward(BinaryOp::mul, a.data<float>(), unit, b.data<float>(), unit, a.data<float>(), shape, 1);
  EXPECT_TRUE(same(a.to_vector(), expect));
}
