// Activation ops: values and gradients recorded from PyTorch (tests/fixtures/activation.txt,
// record_activation.py), the autograd wiring by finite differences, and the shape checks.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/ops/activation.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

using UnaryOp = std::function<Variable(Context&, const Variable&)>;

const std::vector<std::pair<std::string, UnaryOp>>& unary_ops() {
  static const std::vector<std::pair<std::string, UnaryOp>> table = {
      {"sigmoid", [](Context& c, const Variable& x) { return ops::sigmoid(c, x); }},
      {"tanh", [](Context& c, const Variable& x) { return ops::tanh(c, x); }},
      {"leaky_relu", [](Context& c, const Variable& x) { return ops::leaky_relu(c, x, 0.1f); }},
      {"elu", [](Context& c, const Variable& x) { return ops::elu(c, x, 0.7f); }},
      {"selu", [](Context& c, const Variable& x) { return ops::selu(c, x); }},
      {"gelu", [](Context& c, const Variable& x) { return ops::gelu(c, x, false); }},
      {"gelu_tanh", [](Context& c, const Variable& x) { return ops::gelu(c, x, true); }},
      {"silu", [](Context& c, const Variable& x) { return ops::silu(c, x); }},
  };
  return table;
}

}  // namespace

TEST(Activation, MatchesPyTorch) {
  auto f = load_fixture("activation");
  for (const auto& [name, op] : unary_ops()) {
    SCOPED_TRACE(name);
    Context ctx;
    Variable x(f.at(name + "_x"), true);
    Variable y = op(ctx, x);
    EXPECT_TRUE(all_close(y.data(), f.at(name + "_y"), 1e-6f, 1e-5f));
    y.backward(f.at(name + "_dy"));
    EXPECT_TRUE(all_close(x.grad(), f.at(name + "_dx"), 1e-6f, 1e-5f));
  }
}

TEST(Activation, PReluMatchesPyTorch) {
  auto f = load_fixture("activation");
  for (std::string name : {"prelu_channel", "prelu_shared"}) {
    SCOPED_TRACE(name);
    Context ctx;
    Variable x(f.at(name + "_x"), true), w(f.at(name + "_w"), true);
    Variable y = ops::prelu(ctx, x, w);
    EXPECT_TRUE(all_close(y.data(), f.at(name + "_y"), 1e-6f, 1e-5f));
    y.backward(f.at(name + "_dy"));
    EXPECT_TRUE(all_close(x.grad(), f.at(name + "_dx"), 1e-6f, 1e-5f));
    EXPECT_TRUE(all_close(w.grad(), f.at(name + "_dw"), 1e-5f, 1e-5f));
  }
}

TEST(Activation, GradientsMatchFiniteDifferences) {
  // |x| >= 0.05 everywhere: the +-eps steps never cross the kinks of leaky_relu and elu
  std::vector<float> v = random_tensor({2, 3, 4}, 7, -3, 3).to_vector();
  for (float& e : v)
    if (std::abs(e) < 0.05f) e = 0.3f;
  Tensor x = Tensor::from_vector(v, {2, 3, 4});
  for (const auto& [name, op] : unary_ops()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(check_op_gradients([&](Context& c, const std::vector<Variable>& in) { return op(c, in[0]); }, {x}));
  }
  for (int64_t C : {1, 3}) {
    Tensor w = random_tensor({C}, 8, 0.1f, 0.4f);
    EXPECT_TRUE(check_op_gradients(
        [](Context& c, const std::vector<Variable>& in) { return ops::prelu(c, in[0], in[1]); }, {x, w}))
        << "C=" << C;
  }
}

TEST(Activation, NonContiguousInputIsRead) {
  Tensor x = random_tensor({3, 4}, 9, -2, 2);
  Tensor xt = x.permute({1, 0});
  Context ctx;
  Variable y = ops::tanh(ctx, Variable(xt));
  std::vector<float> a = y.data().to_vector(), b = xt.contiguous().to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(a[i], std::tanh(b[i]));
}

TEST(Activation, PReluRejectsAWeightOfTheWrongSize) {
  Context ctx;
  Variable x(Tensor::zeros({2, 3, 4})), w(Tensor::zeros({4}));
  EXPECT_THROW(ops::prelu(ctx, x, w), Error);
  EXPECT_THROW(ops::prelu(ctx, x, Variable(Tensor::zeros({3, 1}))), Error);
  EXPECT_NO_THROW(ops::prelu(ctx, x, Variable(Tensor::zeros({3}))));
  EXPECT_NO_THROW(ops::prelu(ctx, x, Variable(Tensor::zeros({1}))));
}
