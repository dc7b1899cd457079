// ParameterArena: parameters and gradients are views of two contiguous blocks, values survive the
// move, zero_grad clears everything, and backward() accumulates straight into the arena.
#include <cstring>

#include "common/testing.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/zoo.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(Arena, ParametersAreContiguousAlignedViews) {
  Rng rng(0);
  auto model = nn::build_model({"cnn"}, rng);
  nn::StateDict before;
  for (auto& [k, t] : model->state_dict()) before.emplace_back(k, t.clone());
  nn::ParameterArena arena(*model);

  auto params = model->named_parameters();
  const auto& entries = arena.entries();
  ASSERT_EQ(entries.size(), params.size());
  int64_t expect_offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    Variable& v = *params[i].second;
    EXPECT_EQ(e.name, params[i].first);
    EXPECT_EQ(e.offset, (expect_offset + 15) / 16 * 16) << e.name;
    EXPECT_EQ(e.numel, v.numel());
    EXPECT_EQ(e.shape, v.shape());
    EXPECT_EQ(v.data().data<float>(), arena.data() + e.offset) << e.name;
    EXPECT_EQ(v.grad().data<float>(), arena.grad() + e.offset) << e.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data().data<float>()) % 64, 0u) << e.name;
    expect_offset = e.offset + e.numel;
  }
  EXPECT_EQ(arena.size(), expect_offset);
  // values unchanged, buffers untouched
  auto after = model->state_dict();
  for (size_t i = 0; i < after.size(); ++i) {
    if (after[i].second.dtype() == DType::f32) {
      EXPECT_TRUE(all_close(after[i].second, before[i].second, 0, 0)) << after[i].first;
    }
  }
  // no weight decay for 1-D parameters
  for (const auto& e : entries) EXPECT_EQ(e.is_bias_or_norm, e.shape.size() == 1) << e.name;
  EXPECT_FALSE(entries[0].is_bias_or_norm);  // net.0.weight
  EXPECT_TRUE(entries[1].is_bias_or_norm);   // net.1.weight (BatchNorm scale)
}

TEST(Arena, ZeroGradClearsTheWholeBlock) {
  Rng rng(0);
  auto model = nn::build_model({"mlp"}, rng);
  nn::ParameterArena arena(*model);
  for (int64_t i = 0; i < arena.size(); ++i) EXPECT_EQ(arena.grad()[i], 0.0f);
  for (int64_t i = 0; i < arena.size(); ++i) arena.grad()[i] = 1.5f;
  arena.zero_grad();
  for (int64_t i = 0; i < arena.size(); ++i) ASSERT_EQ(arena.grad()[i], 0.0f) << i;
}

TEST(Arena, BackwardAccumulatesIntoArenaGradients) {
  Rng rng(1);
  Context ctx;
  nn::Linear fc(rng, 5, 3);
  nn::ParameterArena arena(fc);
  Tensor x = random_tensor({4, 5}, 2), dout = random_tensor({4, 3}, 3);
  fc.forward(ctx, Variable(x)).backward(dout);
  // dW = dout^T x, db = sum over the batch of dout
  auto xv = x.to_vector(), dv = dout.to_vector();
  std::vector<float> dw(15, 0.0f), db(3, 0.0f);
  for (int n = 0; n < 4; ++n)
    for (int o = 0; o < 3; ++o) {
      db[o] += dv[n * 3 + o];
      for (int i = 0; i < 5; ++i) dw[o * 5 + i] += dv[n * 3 + o] * xv[n * 5 + i];
    }
  const auto& e = arena.entries();
  Tensor arena_dw = Tensor::from_vector(std::vector<float>(arena.grad() + e[0].offset, arena.grad() + e[0].offset + 15), {3, 5});
  Tensor arena_db = Tensor::from_vector(std::vector<float>(arena.grad() + e[1].offset, arena.grad() + e[1].offset + 3), {3});
  EXPECT_TRUE(all_close(arena_dw, Tensor::from_vector(dw, {3, 5})));
  EXPECT_TRUE(all_close(arena_db, Tensor::from_vector(db, {3})));
  EXPECT_EQ(fc.weight.grad().data<float>(), arena.grad() + e[0].offset);

  // a second backward adds; zero_grad clears
  fc.forward(ctx, Variable(x)).backward(dout);
  EXPECT_NEAR(arena.grad()[e[1].offset], 2 * db[0], 1e-5);
  arena.zero_grad();
  EXPECT_EQ(fc.bias.grad().to_vector(), std::vector<float>(3, 0.0f));
}

TEST(Arena, LoadStateDictWritesIntoTheArena) {
  Rng r1(1), r2(2);
  auto a = nn::build_model({"mlp"}, r1), b = nn::build_model({"mlp"}, r2);
  nn::ParameterArena arena(*b);
  b->load_state_dict(a->state_dict());
  const auto& e = arena.entries()[0];
  EXPECT_EQ(arena.data()[e.offset + 7], a->state_dict()[0].second.data<float>()[7]);
}
