// sum, mean and max ops: values against hand-computed results (dims, keepdim, negative dims, all
// dims), errors, and the autograd wiring by check_op_gradients.
#include "common/testing.h"
#include "cvtrain/ops/reduce.h"
#include "cvtrain/ops/shape.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {
// x: (2,3) = [[0,1,2],[3,4,5]]
Variable iota23() { return Variable(Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3})); }
}  // namespace

TEST(Sum, OverDims) {
  Context ctx;
  const Variable x = iota23();
  Variable all = ops::sum(ctx, x);
  EXPECT_EQ(all.shape(), Shape{});
  EXPECT_EQ(all.item(), 15.0f);
  EXPECT_EQ(ops::sum(ctx, x, {0}).data().to_vector(), (std::vector<float>{3, 5, 7}));
  EXPECT_EQ(ops::sum(ctx, x, {1}).data().to_vector(), (std::vector<float>{3, 12}));
  EXPECT_EQ(ops::sum(ctx, x, {-1}).data().to_vector(), (std::vector<float>{3, 12}));
  EXPECT_EQ(ops::sum(ctx, x, {0, 1}).item(), 15.0f);
  EXPECT_EQ(ops::sum(ctx, x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(ops::sum(ctx, x, {}, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(ops::sum(ctx, x, {0}, false).shape(), (Shape{3}));
}

TEST(Sum, NonContiguousInputAndEmptyDims) {
  Context ctx;
  Variable xt(iota23().data().permute({1, 0}));  // (3,2) = [[0,3],[1,4],[2,5]]
  EXPECT_EQ(ops::sum(ctx, xt, {1}).data().to_vector(), (std::vector<float>{3, 5, 7}));
  Variable empty(Tensor::zeros({0, 3}));
  EXPECT_EQ(ops::sum(ctx, empty, {0}).data().to_vector(), (std::vector<float>{0, 0, 0}));
}

TEST(Sum, BadDimsThrow) {
  Context ctx;
  const Variable x = iota23();
  EXPECT_THROW(ops::sum(ctx, x, {2}), Error);
  EXPECT_THROW(ops::sum(ctx, x, {-3}), Error);
  EXPECT_THROW(ops::sum(ctx, x, {1, -1}), Error);  // the same dim twice
  EXPECT_THROW(ops::mean(ctx, x, {5}), Error);
}

TEST(Mean, OverDims) {
  Context ctx;
  const Variable x = iota23();
  EXPECT_FLOAT_EQ(ops::mean(ctx, x).item(), 2.5f);
  EXPECT_EQ(ops::mean(ctx, x, {0}).data().to_vector(), (std::vector<float>{1.5f, 2.5f, 3.5f}));
  EXPECT_EQ(ops::mean(ctx, x, {1}, true).data().to_vector(), (std::vector<float>{1, 4}));
}

TEST(SumMean, Gradients) {
  const Tensor x = random_tensor({2, 3, 4}, 3);
  using Dims = std::vector<int64_t>;
  for (const Dims& dims : {Dims{}, Dims{0}, Dims{1}, Dims{-1}, Dims{0, 2}, Dims{0, 1, 2}})
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(::testing::Message() << dims.size() << " dims, keepdim " << keepdim);
      EXPECT_TRUE(check_op_gradients(
          [&](Context& c, const std::vector<Variable>& v) { return ops::sum(c, v[0], dims, keepdim); }, {x}));
      EXPECT_TRUE(check_op_gradients(
          [&](Context& c, const std::vector<Variable>& v) { return ops::mean(c, v[0], dims, keepdim); }, {x}));
    }
}

TEST(Max, ValuesAndFirstMaximalGradient) {
  Context ctx;
  // (2,4) with ties: row 0 max 3 at index 1 and 2, row 1 max 7 at index 0 and 3
  Variable x(Tensor::from_vector({1, 3, 3, 2, 7, 0, -1, 7}, {2, 4}), true);
  Variable y = ops::max(ctx, x, 1);
  EXPECT_EQ(y.shape(), (Shape{2}));
  EXPECT_EQ(y.data().to_vector(), (std::vector<float>{3, 7}));
  y.backward(Tensor::from_vector({10, 20}, {2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 10, 0, 0, 20, 0, 0, 0}));
  EXPECT_EQ(ops::max(ctx, x, 0, true).shape(), (Shape{1, 4}));
  EXPECT_EQ(ops::max(ctx, x, -2).data().to_vector(), (std::vector<float>{7, 3, 3, 7}));
  EXPECT_THROW(ops::max(ctx, x, 2), Error);
  EXPECT_THROW(ops::max(ctx, Variable(Tensor::zeros({3, 0})), 1), Error);
}

TEST(Max, Gradients) {
  const Tensor x = random_tensor({3, 4, 5}, 4);  // distinct values: the arg-max is stable under eps
  for (int64_t dim : {0, 1, 2, -1})
    for (bool keepdim : {false, true})
      EXPECT_TRUE(check_op_gradients(
          [&](Context& c, const std::vector<Variable>& v) { return ops::max(c, v[0], dim, keepdim); }, {x}))
          << "dim " << dim;
  // a strided input
  EXPECT_TRUE(check_op_gradients(
      [](Context& c, const std::vector<Variable>& v) { return ops::max(c, ops::permute(c, v[0], {2, 0, 1}), 1); },
      {x}));
}
