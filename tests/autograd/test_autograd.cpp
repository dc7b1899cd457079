// The graph machinery of autograd/variable: accumulation where a variable is used twice, diamonds,
// no-grad mode, detach, the graph freed by backward (a second backward is an error) and the
// release of saved intermediates. The ops used are elementwise/reduce ones, checked elsewhere.
#include <memory>

#include "common/testing.h"
#include "cvtrain/ops/elementwise.h"
#include "cvtrain/ops/reduce.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {
Variable leaf(std::vector<float> v) {
  const Shape s{static_cast<int64_t>(v.size())};
  return Variable(Tensor::from_vector(v, s), true);
}
std::vector<float> grad_of(const Variable& v) { return v.grad().to_vector(); }
}  // namespace

TEST(Autograd, GradientAccumulatesWhenAVariableIsUsedTwice) {
  Context ctx;
  Variable x = leaf({1, -2, 3});
  ops::sum(ctx, ops::mul(ctx, x, x)).backward();  // d/dx sum(x*x) = 2x
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, -4, 6}));
  // x used in two different ops: d/dx sum(3x + x*x) = 3 + 2x
  Variable z = leaf({1, -2, 3});
  ops::sum(ctx, ops::add(ctx, ops::mul_scalar(ctx, z, 3), ops::mul(ctx, z, z))).backward();
  EXPECT_EQ(grad_of(z), (std::vector<float>{5, -1, 9}));
}

TEST(Autograd, LeafGradientsAccumulateAcrossBackwardCalls) {
  Context ctx;
  Variable x = leaf({1, 2});
  ops::sum(ctx, ops::mul_scalar(ctx, x, 2)).backward();
  ops::sum(ctx, ops::mul_scalar(ctx, x, 5)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{7, 7}));
}

TEST(Autograd, DiamondGraph) {
  // y = 2x; u = y*y; v = y+1; L = sum(u*v)  ->  dL/dy = 2y*v + u = 3y^2 + 2y, dL/dx = 2 dL/dy
  Context ctx;
  Variable x = leaf({1, -1, 0.5f});
  Variable y = ops::mul_scalar(ctx, x, 2);
  Variable u = ops::mul(ctx, y, y), v = ops::add_scalar(ctx, y, 1);
  ops::sum(ctx, ops::mul(ctx, u, v)).backward();
  const std::vector<float> xs = x.data().to_vector(), g = grad_of(x);
  for (size_t i = 0; i < xs.size(); ++i) {
    const float yi = 2 * xs[i];
    EXPECT_FLOAT_EQ(g[i], 2 * (3 * yi * yi + 2 * yi)) << i;
  }
  EXPECT_FALSE(y.grad().defined());  // an intermediate's gradient is dropped once passed on
}

TEST(Autograd, DiamondMatchesFiniteDifferences) {
  auto f = [](Context& c, const std::vector<Variable>& v) {
    Variable y = ops::div(c, v[0], ops::add_scalar(c, v[1], 3));
    return ops::mul(c, ops::sub(c, y, v[1]), ops::add(c, y, v[0]));
  };
  EXPECT_TRUE(check_op_gradients(f, {random_tensor({2, 3}, 1), random_tensor({3}, 2)}));
}

TEST(Autograd, NoGradRecordsNothing) {
  Context ctx;
  Variable x = leaf({1, 2});
  {
    NoGradGuard guard(ctx);
    Variable y = ops::mul(ctx, x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_THROW(y.backward(), Error);
  }
  EXPECT_TRUE(ctx.grad_enabled);  // the guard restores the mode
  EXPECT_TRUE(ops::mul(ctx, x, x).requires_grad());
  // inputs that need no gradient make no graph either
  Variable c(Tensor::full({2}, 3.0f));
  EXPECT_EQ(ops::mul(ctx, c, c).grad_fn(), nullptr);
}

TEST(Autograd, DetachStopsGradients) {
  Context ctx;
  Variable x = leaf({1, -2, 3});
  Variable d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.data().storage(), x.data().storage());  // same values, no copy
  ops::sum(ctx, ops::mul(ctx, x, d)).backward();      // only the first factor carries a gradient
  EXPECT_EQ(grad_of(x), (std::vector<float>{1, -2, 3}));
}

TEST(Autograd, SecondBackwardThroughAFreedGraphFails) {
  Context ctx;
  Variable x = leaf({1, 2});
  Variable loss = ops::sum(ctx, ops::mul(ctx, x, x));
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 4}));
  try {
    loss.backward();
    FAIL() << "a second backward through a freed graph did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sum"), std::string::npos) << e.what();  // names the op
  }
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 4}));  // and changed nothing
}

TEST(Autograd, BackwardThroughASharedFreedSubgraphFails) {
  // Two losses share y; the first backward frees y's node, so the second cannot reach x.
  Context ctx;
  Variable x = leaf({1, 2});
  Variable y = ops::mul(ctx, x, x);
  Variable l1 = ops::sum(ctx, y), l2 = ops::sum(ctx, ops::mul_scalar(ctx, y, 2));
  l1.backward();
  EXPECT_THROW(l2.backward(), Error);
}

TEST(Autograd, BackwardNeedsAScalarOrAGradient) {
  Context ctx;
  Variable x = leaf({1, 2});
  Variable y = ops::mul_scalar(ctx, x, 3);
  EXPECT_THROW(y.backward(), Error);  // two elements, no dout
  EXPECT_THROW(y.backward(Tensor::full({3}, 1.0f)), Error);  // dout of the wrong shape
  Variable c(Tensor::full({1}, 1.0f));
  EXPECT_THROW(c.backward(), Error);  // nothing requires a gradient
}

TEST(Autograd, SavedIntermediatesAreReleasedByBackward) {
  Context ctx;
  Variable x = leaf({1, 2, 3});
  std::weak_ptr<Storage> saved;
  Variable loss;
  {
    Variable y = ops::mul_scalar(ctx, x, 2);  // an intermediate that mul below saves for its backward
    saved = y.data().storage();
    loss = ops::sum(ctx, ops::mul(ctx, y, y));
  }
  EXPECT_FALSE(saved.expired());  // the graph keeps it alive until backward
  loss.backward();
  EXPECT_TRUE(saved.expired());
  EXPECT_EQ(grad_of(x), (std::vector<float>{8, 16, 24}));  // d/dx sum(4x^2) = 8x
}

TEST(Autograd, DroppingTheGraphWithoutBackwardReleasesIt) {
  Context ctx;
  Variable x = leaf({1, 2, 3});
  std::weak_ptr<Storage> saved;
  {
    Variable y = ops::mul_scalar(ctx, x, 2);
    saved = y.data().storage();
    Variable loss = ops::sum(ctx, ops::mul(ctx, y, y));
  }
  EXPECT_TRUE(saved.expired());
  EXPECT_EQ(x.data().storage().use_count(), 1);  // no node left holding x
}
