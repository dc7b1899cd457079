// torchvision's resnet18/34/50 against PyTorch: every state_dict tensor set by the formula both sides
// compute (fill_formula_state), eval-mode logits on a formula input against the float64 ones that
// tests/fixtures/record_torchvision.py recorded (torchvision_logits.txt); zero_init_residual and
// drop_path reach the bottleneck blocks.
#include <cstdio>

#include "common/testing.h"
#include "cvtrain/nn/resnet.h"
#include "cvtrain/nn/zoo.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {


}  // namespace

TEST(Torchvision, LogitsMatchPyTorch) {
  const auto want = load_fixture("torchvision_logits");
  for (const char* name : {"resnet18", "resnet34", "resnet50"}) {
    Rng rng(0);
    auto model = nn::build_model({name, 3, 64, 64, 7}, rng);
    model->eval();
    nn::StateDict state = model->state_dict();
    fill_formula_state(state);
    Context ctx;
    NoGradGuard no_grad(ctx);
    const Tensor y = model->forward(ctx, Variable(formula_input({2, 3, 64, 64}))).data().contiguous();
    ASSERT_EQ(y.shape(), want.at(name).shape()) << name;
    const double diff = relative_max_diff(y, want.at(name));
    std::printf("%s: largest logit difference %.3g of the largest logit\n", name, diff);
    EXPECT_LT(diff, 1e-4) << name;
  }
}

TEST(Torchvision, ZeroInitResidualAndDropPathReachBottlenecks) {
  Rng rng(0);
  nn::ModelSpec spec{"resnet50", 3, 32, 32, 10};
  spec.zero_init_residual = true;
  spec.drop_path = 0.2;
  auto model = nn::build_model(spec, rng);
  int64_t blocks = 0;
  for (auto& [name, t] : model->state_dict()) {
    if (name.size() > 11 && name.compare(name.size() - 11, 11, ".bn3.weight") == 0) {
      ++blocks;
      for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t.data<float>()[i], 0.0f) << name;
    }
  }
  EXPECT_EQ(blocks, 16);  // [3, 4, 6, 3]
  EXPECT_EQ(nn::zero_init_residual(*model), 16);
  EXPECT_EQ(nn::set_drop_path(*model, 0.2f), 16);
  Context ctx(3);
  Variable x(random_tensor({2, 3, 32, 32}, 4), true);
  Variable y = model->forward(ctx, x);
  y.backward(Tensor::full(y.shape(), 1.0f));
  EXPECT_EQ(x.grad().shape(), (Shape{2, 3, 32, 32}));
}
