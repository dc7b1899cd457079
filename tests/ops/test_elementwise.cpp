// Elementwise ops: broadcast_shape, add/sub/mul/div with broadcasting, the scalar ops, sum_to_shape and
// relu: values, errors, gradients by check_op_gradients, and a broadcasting chain recorded from PyTorch.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/shape.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(Relu, ForwardZeroesNegatives) {
  Context ctx;
  Variable x(Tensor::from_vector({-2, -0.5f, 0, 0.5f, 3}, {5}));
  EXPECT_EQ(ops::relu(ctx, x).data().to_vector(), (std::vector<float>{0, 0, 0, 0.5f, 3}));
}

TEST(Relu, GradientMatchesFiniteDifferences) {
  // Inputs kept away from the kink at 0, where the derivative is undefined.
  Tensor x = random_tensor({3, 7}, 1, 0.1f, 1.0f);
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); i += 2) p[i] = -p[i];
  EXPECT_TRUE(check_op_gradients([](Context& c, const std::vector<Variable>& v) { return ops::relu(c, v[0]); }, {x}));
}

namespace {

using BinaryFn = Variable (*)(Context&, const Variable&, const Variable&);
struct NamedOp {
  const char* name;
  BinaryFn fn;
};
const NamedOp kBinaryOps[] = {{"add", ops::add}, {"sub", ops::sub}, {"mul", ops::mul}, {"div", ops::div}};

// Broadcasting pairs, written as PyTorch would accept them.
const std::vector<std::pair<Shape, Shape>> kBroadcastCases = {
    {{3, 1, 4}, {2, 1}}, {{2, 3}, {2, 3}}, {{4}, {2, 3, 4}}, {{1}, {2, 2}}, {{2, 1, 3}, {1, 4, 1}}, {{}, {3}}};

// Magnitudes in [0.5, 1.5) with alternating signs, so div stays away from 0.
Tensor operand(const Shape& s, uint64_t seed) {
  Tensor t = random_tensor(s, seed, 0.5f, 1.5f);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); i += 2) p[i] = -p[i];
  return t;
}

}  // namespace

TEST(BroadcastShape, FollowsPyTorchRules) {
  EXPECT_EQ(ops::broadcast_shape({3, 1, 4}, {2, 1}), (Shape{3, 2, 4}));
  EXPECT_EQ(ops::broadcast_shape({}, {2, 3}), (Shape{2, 3}));
  EXPECT_EQ(ops::broadcast_shape({5, 1}, {1}), (Shape{5, 1}));
  EXPECT_EQ(ops::broadcast_shape({0, 1}, {1, 4}), (Shape{0, 4}));
  EXPECT_THROW(ops::broadcast_shape({3, 2}, {4}), Error);
  try {
    ops::broadcast_shape({2, 3}, {2, 4});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(2,3) and (2,4)"), std::string::npos) << e.what();
  }
}

TEST(Elementwise, BroadcastValuesMatchIndexArithmetic) {
  Context ctx;
  const Tensor a = operand({3, 1, 4}, 1), b = operand({2, 1}, 2);
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  for (const NamedOp& op : kBinaryOps) {
    SCOPED_TRACE(op.name);
    const Tensor y = op.fn(ctx, Variable(a), Variable(b)).data();
    ASSERT_EQ(y.shape(), (Shape{3, 2, 4}));
    const std::vector<float> vy = y.to_vector();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 2; ++j)
        for (int k = 0; k < 4; ++k) {
          const float x = va[i * 4 + k], z = vb[j];
          const float expect = op.fn == ops::add ? x + z : op.fn == ops::sub ? x - z : op.fn == ops::mul ? x * z : x / z;
          EXPECT_EQ(vy[(i * 2 + j) * 4 + k], expect);
        }
  }
}

TEST(Elementwise, IncompatibleShapesThrow) {
  Context ctx;
  Variable a(Tensor::zeros({2, 3})), b(Tensor::zeros({3, 2}));
  for (const NamedOp& op : kBinaryOps) EXPECT_THROW(op.fn(ctx, a, b), Error) << op.name;
}

TEST(Elementwise, GradientsWithBroadcasting) {
  uint64_t seed = 10;
  for (const auto& [as, bs] : kBroadcastCases)
    for (const NamedOp& op : kBinaryOps) {
      SCOPED_TRACE(std::string(op.name) + " " + shape_str(as) + " with " + shape_str(bs));
      auto f = [fn = op.fn](Context& c, const std::vector<Variable>& v) { return fn(c, v[0], v[1]); };
      EXPECT_TRUE(check_op_gradients(f, {operand(as, seed), operand(bs, seed + 1)}));
      EXPECT_TRUE(check_op_gradients(f, {operand(bs, seed + 2), operand(as, seed + 3)}));
      seed += 4;
    }
}

TEST(Elementwise, NonContiguousInputsAreReadInPlace) {
  Context ctx;
  const Tensor base = operand({4, 3}, 5);
  const Tensor at = base.permute({1, 0});  // (3,4), strided
  const Tensor b = operand({4}, 6);
  const Tensor expect = ops::mul(ctx, Variable(at.contiguous()), Variable(b)).data();
  EXPECT_TRUE(all_close(ops::mul(ctx, Variable(at), Variable(b)).data(), expect, 0, 0));
  // gradient through a strided operand (a permuted view of the input)
  EXPECT_TRUE(check_op_gradients(
      [](Context& c, const std::vector<Variable>& v) { return ops::div(c, ops::permute(c, v[0], {1, 0}), v[1]); },
      {base, b}));
}

TEST(Elementwise, GradientOnlyForInputsThatNeedIt) {
  Context ctx;
  Variable a(operand({2, 3}, 7), true), b(operand({3}, 8), false);
  Variable y = ops::mul(ctx, a, b);
  y.backward(Tensor::full({2, 3}, 1.0f));
  ASSERT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  const std::vector<float> vb = b.data().to_vector(), ga = a.grad().to_vector();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ga[i], vb[i % 3]);
}

TEST(Elementwise, SameVariableOnBothSides) {
  // x + x and x * x: both gradients land on one variable and must add, not alias.
  Context ctx;
  Variable x(operand({5}, 9), true);
  ops::add(ctx, x, x).backward(Tensor::full({5}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>(5, 2.0f));
  Variable z(operand({5}, 9), true);
  ops::mul(ctx, z, z).backward(Tensor::full({5}, 1.0f));
  const std::vector<float> vz = z.data().to_vector(), gz = z.grad().to_vector();
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(gz[i], 2 * vz[i]);
}

TEST(Elementwise, AddGradientsDoNotShareBuffers) {
  // y = a + b with equal shapes passes dy through: a's and b's gradients must still be separate buffers,
  // or accumulating into one later would change the other.
  Context ctx;
  Variable a(operand({4}, 11), true), b(operand({4}, 12), true);
  Variable y = ops::add(ctx, a, b);
  Variable z = ops::add(ctx, y, a);  // a gets a second gradient, accumulated in place
  z.backward(Tensor::full({4}, 1.0f));
  EXPECT_EQ(a.grad().to_vector(), std::vector<float>(4, 2.0f));
  EXPECT_EQ(b.grad().to_vector(), std::vector<float>(4, 1.0f));
}

TEST(Elementwise, ScalarOps) {
  Context ctx;
  Variable x(Tensor::from_vector({-1, 0, 2.5f}, {3}));
  EXPECT_EQ(ops::add_scalar(ctx, x, 1.5f).data().to_vector(), (std::vector<float>{0.5f, 1.5f, 4}));
  EXPECT_EQ(ops::mul_scalar(ctx, x, -2).data().to_vector(), (std::vector<float>{2, 0, -5}));
  const Tensor t = operand({2, 3}, 13);
  EXPECT_TRUE(check_op_gradients([](Context& c, const std::vector<Variable>& v) { return ops::add_scalar(c, v[0], 3); }, {t}));
  EXPECT_TRUE(
      check_op_gradients([](Context& c, const std::vector<Variable>& v) { return ops::mul_scalar(c, v[0], -0.5f); }, {t}));
  // a strided input
  Variable xt(t.permute({1, 0}));
  EXPECT_TRUE(all_close(ops::mul_scalar(ctx, xt, 2).data(), ops::add(ctx, xt, xt).data(), 0, 0));
}

TEST(SumToShape, SumsBroadcastDims) {
  // g: (2,3,2) -> (3,1): sum over the leading dim and the last
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
  const Tensor g = Tensor::from_vector(v, {2, 3, 2});
  const Tensor s = ops::sum_to_shape(g, {3, 1});
  ASSERT_EQ(s.shape(), (Shape{3, 1}));
  EXPECT_EQ(s.to_vector(), (std::vector<float>{0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11}));
  EXPECT_EQ(ops::sum_to_shape(g, {}).to_vector(), (std::vector<float>{66}));
  EXPECT_EQ(ops::sum_to_shape(g, {2, 3, 2}).storage(), g.storage());  // nothing to sum: g itself
  EXPECT_EQ(ops::sum_to_shape(g, {2}).to_vector(), (std::vector<float>{30, 36}));
  EXPECT_THROW(ops::sum_to_shape(g, {3}), Error);
  EXPECT_THROW(ops::sum_to_shape(g, {4, 3, 2}), Error);
}

// Values recorded from PyTorch 1.13 by tests/fixtures/record_elementwise.py:
// y = (a * b - c) / d with a (3,1,4), b (2,1), c (4), d (1,2,1); loss = sum(y * r).
TEST(Elementwise, MatchesPyTorchOnBroadcastChain) {
  auto f = load_fixture("elementwise");
  Context ctx;
  Variable a(f.at("a"), true), b(f.at("b"), true), c(f.at("c"), true), d(f.at("d"), true);
  Variable y = ops::div(ctx, ops::sub(ctx, ops::mul(ctx, a, b), c), d);
  EXPECT_TRUE(all_close(y.data(), f.at("y")));
  y.backward(f.at("r"));
  EXPECT_TRUE(all_close(a.grad(), f.at("da")));
  EXPECT_TRUE(all_close(b.grad(), f.at("db")));
  EXPECT_TRUE(all_close(c.grad(), f.at("dc")));
  EXPECT_TRUE(all_close(d.grad(), f.at("dd")));
}
