// End to end through nn, ops and optim: a zoo model on a tiny random batch, one SGD step on the
// arena lowers the loss. Dropout is set to 0 so that both forward passes compute the same function.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/optim/sgd.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

void expect_one_step_lowers_loss(const std::string& name) {
  Rng rng(0);
  Context ctx(1);
  nn::ModelSpec spec{name};
  spec.dropout = 0.0f;
  auto model = nn::build_model(spec, rng);
  nn::ParameterArena arena(*model);
  optim::OptimOptions opt;
  opt.weight_decay = 5e-4f;
  opt.nesterov = true;
  optim::SGD sgd(arena, opt);

  Tensor x = random_tensor({8, 1, 28, 28}, 5);
  Tensor labels = Tensor::empty({8}, DType::i64);
  for (int64_t i = 0; i < 8; ++i) labels.data<int64_t>()[i] = (i * 3) % 10;

  Variable loss0 = ops::cross_entropy(ctx, model->forward(ctx, Variable(x)), labels);
  float l0 = loss0.item();
  EXPECT_NEAR(l0, std::log(10.0f), 0.5f) << name << ": untrained logits should be near uniform";
  arena.zero_grad();
  loss0.backward();
  double gnorm = 0;
  for (int64_t i = 0; i < arena.size(); ++i) gnorm += double(arena.grad()[i]) * arena.grad()[i];
  EXPECT_GT(gnorm, 0.0) << name;
  sgd.step(0.05f, 0.9f);
  float l1 = ops::cross_entropy(ctx, model->forward(ctx, Variable(x)), labels).item();
  EXPECT_LT(l1, l0) << name;
}

}  // namespace

TEST(EndToEnd, MlpOneStepLowersLoss) { expect_one_step_lowers_loss("mlp"); }
TEST(EndToEnd, CnnOneStepLowersLoss) { expect_one_step_lowers_loss("cnn"); }
