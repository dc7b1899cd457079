// Shape ops: which results are views of the input's storage, values, errors, and gradients.
#include "common/testing.h"
#include "cvtrain/ops/shape.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {
Tensor iota(const Shape& s) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, s);
}
using Fn = std::function<Variable(Context&, const std::vector<Variable>&)>;
}  // namespace

TEST(Reshape, ViewOfPackedInputCopyOtherwise) {
  Context ctx;
  Variable x(iota({2, 3, 4}));
  Variable y = ops::reshape(ctx, x, {6, -1});
  EXPECT_EQ(y.shape(), (Shape{6, 4}));
  EXPECT_EQ(y.data().storage(), x.data().storage());
  EXPECT_EQ(y.data().to_vector(), x.data().to_vector());
  Variable xt(x.data().permute({2, 0, 1}));
  Variable z = ops::reshape(ctx, xt, {4, 6});
  EXPECT_NE(z.data().storage(), x.data().storage());
  EXPECT_EQ(z.data().to_vector(), xt.data().contiguous().to_vector());
  EXPECT_THROW(ops::reshape(ctx, x, {5, 5}), Error);
  EXPECT_THROW(ops::reshape(ctx, x, {-1, -1}), Error);
}

TEST(Flatten, KeepsLeadingDims) {
  Context ctx;
  Variable x(iota({2, 3, 4, 5}));
  EXPECT_EQ(ops::flatten(ctx, x).shape(), (Shape{2, 60}));
  EXPECT_EQ(ops::flatten(ctx, x, 0).shape(), (Shape{120}));
  EXPECT_EQ(ops::flatten(ctx, x, 2).shape(), (Shape{2, 3, 20}));
  EXPECT_EQ(ops::flatten(ctx, x, -1).shape(), (Shape{2, 3, 4, 5}));
  EXPECT_THROW(ops::flatten(ctx, x, 4), Error);
}

TEST(Permute, IsAViewWithPermutedValues) {
  Context ctx;
  Variable x(iota({2, 3}));
  Variable y = ops::permute(ctx, x, {1, 0});
  EXPECT_EQ(y.data().storage(), x.data().storage());
  EXPECT_EQ(y.data().to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(ops::permute(ctx, x, {0, 0}), Error);
  EXPECT_THROW(ops::permute(ctx, x, {0}), Error);
}

TEST(Slice, IsAViewWithSteps) {
  Context ctx;
  Variable x(iota({2, 6}));
  Variable y = ops::slice(ctx, x, 1, 1, 6, 2);
  EXPECT_EQ(y.data().storage(), x.data().storage());
  EXPECT_EQ(y.data().to_vector(), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(ops::slice(ctx, x, 1, -2, 100).data().to_vector(), (std::vector<float>{4, 5, 10, 11}));
  EXPECT_EQ(ops::slice(ctx, x, 0, 1, 2).shape(), (Shape{1, 6}));
  EXPECT_THROW(ops::slice(ctx, x, 2, 0, 1), Error);
  EXPECT_THROW(ops::slice(ctx, x, 0, 0, 1, 0), Error);
}

TEST(Concat, JoinsAlongDim) {
  Context ctx;
  Variable a(iota({2, 2})), b(iota({2, 1}));
  EXPECT_EQ(ops::concat(ctx, {a, b}, 1).data().to_vector(), (std::vector<float>{0, 1, 0, 2, 3, 1}));
  EXPECT_EQ(ops::concat(ctx, {a, a}, 0).data().to_vector(), (std::vector<float>{0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(ops::concat(ctx, {a, b}, -1).shape(), (Shape{2, 3}));
  EXPECT_THROW(ops::concat(ctx, {a, b}, 0), Error);  // dims other than 0 differ
  EXPECT_THROW(ops::concat(ctx, {}, 0), Error);
  EXPECT_THROW(ops::concat(ctx, {a, Variable(iota({4}))}, 0), Error);
  EXPECT_THROW(ops::concat(ctx, {a, b}, 2), Error);
}

TEST(Concat, NoGraphWhenNothingNeedsGrad) {
  Context ctx;
  Variable a(iota({2})), b(iota({3}), true);
  EXPECT_FALSE(ops::concat(ctx, {a, a}, 0).requires_grad());
  EXPECT_TRUE(ops::concat(ctx, {a, b}, 0).requires_grad());
  NoGradGuard guard(ctx);
  EXPECT_FALSE(ops::concat(ctx, {a, b}, 0).requires_grad());
}

TEST(Contiguous, CopiesOnlyWhenNeeded) {
  Context ctx;
  Variable x(iota({2, 3}));
  EXPECT_EQ(ops::contiguous(ctx, x).data().storage(), x.data().storage());
  Variable xt = ops::permute(ctx, x, {1, 0});
  Variable c = ops::contiguous(ctx, xt);
  EXPECT_TRUE(c.data().is_contiguous());
  EXPECT_NE(c.data().storage(), x.data().storage());
  EXPECT_EQ(c.data().to_vector(), xt.data().to_vector());
}

TEST(ShapeOps, Gradients) {
  const Tensor x = random_tensor({2, 3, 4}, 1), y = random_tensor({2, 2, 4}, 2);
  const std::vector<std::pair<const char*, Fn>> cases = {
      {"reshape", [](Context& c, const std::vector<Variable>& v) { return ops::reshape(c, v[0], {4, -1}); }},
      {"flatten", [](Context& c, const std::vector<Variable>& v) { return ops::flatten(c, v[0]); }},
      {"permute", [](Context& c, const std::vector<Variable>& v) { return ops::permute(c, v[0], {2, 0, 1}); }},
      {"permute+reshape",
       [](Context& c, const std::vector<Variable>& v) { return ops::reshape(c, ops::permute(c, v[0], {1, 0, 2}), {-1}); }},
      {"slice", [](Context& c, const std::vector<Variable>& v) { return ops::slice(c, v[0], 2, 1, 4, 2); }},
      {"slice-neg", [](Context& c, const std::vector<Variable>& v) { return ops::slice(c, v[0], -2, -2, 3); }},
      {"contiguous",
       [](Context& c, const std::vector<Variable>& v) { return ops::contiguous(c, ops::permute(c, v[0], {2, 1, 0})); }},
  };
  for (const auto& [name, f] : cases) EXPECT_TRUE(check_op_gradients(f, {x})) << name;
  EXPECT_TRUE(check_op_gradients(
      [](Context& c, const std::vector<Variable>& v) { return ops::concat(c, {v[0], v[1], v[0]}, 1); }, {x, y}));
  EXPECT_TRUE(check_op_gradients(
      [](Context& c, const std::vector<Variable>& v) { return ops::concat(c, {v[1], v[0]}, -2); }, {x, y}));
  EXPECT_TRUE(check_op_gradients(
      [](Context& c, const std::vector<Variable>& v) {
        return ops::concat(c, {ops::reshape(c, v[0], {6, 4}), ops::reshape(c, v[1], {4, 4})}, 0);
      },
      {x, y}));
}
