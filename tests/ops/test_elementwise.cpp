#include "common/testing.h"
#include "cvtrain/ops/elementwise.h"

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
