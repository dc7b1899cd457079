// Transfer learning: prefix matching, freezing and lr multipliers in the optimizer's groups (and in
// an actual SGD step), name-and-shape matching with its report, the head, reset_head, frozen
// BatchNorm, and class subsets.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <filesystem>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/subset.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/optim/sgd.h"
#include "cvtrain/tensor/safetensors.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/transfer.h"

namespace cvtrain {
namespace {

std::shared_ptr<nn::Module> model_of(const std::string& name, int64_t classes, uint64_t seed) {
  Rng rng(seed);
  nn::ModelSpec spec{name};
  spec.num_classes = classes;
  return nn::build_model(spec, rng);
}

std::vector<float> values(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

Tensor param(nn::Module& m, const std::string& name) {
  for (auto& [n, t] : m.state_dict())
    if (n == name) return t;
  ADD_FAILURE() << "no " << name;
  return {};
}

TEST(Transfer, PrefixMatchesWholeComponents) {
  EXPECT_TRUE(optim::matches_prefix("net.1.weight", "net.1"));
  EXPECT_TRUE(optim::matches_prefix("net.1.weight", "net.1.weight"));
  EXPECT_TRUE(optim::matches_prefix("net.1.weight", "net."));
  EXPECT_FALSE(optim::matches_prefix("net.10.weight", "net.1"));
  EXPECT_FALSE(optim::matches_prefix("net.1.weight", ""));
}

TEST(Transfer, HeadIsTheLastLinear) {
  EXPECT_EQ(head_prefix(*model_of("mlp", 10, 1)), "net.7");
  EXPECT_EQ(head_prefix(*model_of("cnn", 10, 1)), "net.12");
  EXPECT_EQ(head_prefix(*model_of("resnet20", 10, 1)), "fc");
}

TEST(Transfer, FreezeAndLrMultInParamGroups) {
  auto m = model_of("mlp", 10, 1);
  nn::ParameterArena arena(*m);
  optim::OptimOptions o;
  o.weight_decay = 0.1f;
  o.l1 = 0.01f;
  o.bias_lr_mult = 2.0f;
  o.freeze = {"net.1"};
  o.lr_mults = {{"net", 0.5f}, {"net.7", 3.0f}};
  const auto groups = optim::param_groups(arena, o);
  auto group_of = [&](const std::string& name) {
    for (const auto& e : arena.entries())
      if (e.name == name)
        for (const auto& g : groups)
          if (e.offset >= g.begin && e.offset < g.end) return g;
    ADD_FAILURE() << name;
    return groups.front();
  };
  EXPECT_EQ(group_of("net.1.weight").lr_mult, 0.0f);
  EXPECT_EQ(group_of("net.1.weight").weight_decay, 0.0f);
  EXPECT_EQ(group_of("net.1.bias").l1, 0.0f);
  EXPECT_EQ(group_of("net.4.weight").lr_mult, 0.5f);
  EXPECT_EQ(group_of("net.4.weight").weight_decay, 0.1f);
  EXPECT_EQ(group_of("net.4.bias").lr_mult, 1.0f);   // bias 2 x layer 0.5
  EXPECT_EQ(group_of("net.7.weight").lr_mult, 3.0f);  // the longest prefix wins
  EXPECT_EQ(group_of("net.7.bias").lr_mult, 6.0f);
  o.freeze = {"net.9"};
  EXPECT_THROW(optim::param_groups(arena, o), InputError);  // a typo names no parameter
  o.freeze = {};
  o.lr_mults = {{"head", 1.0f}};
  EXPECT_THROW(optim::param_groups(arena, o), InputError);
}

TEST(Transfer, FrozenParametersDoNotMoveInSgd) {
  auto m = model_of("mlp", 10, 2);
  nn::ParameterArena arena(*m);
  for (int64_t i = 0; i < arena.size(); ++i) arena.grad()[i] = 0.01f * static_cast<float>((i % 7) - 3);
  const std::vector<float> before(arena.data(), arena.data() + arena.size());
  optim::OptimOptions s;
  s.momentum = 0.9f;
  s.weight_decay = 0.5f;  // a frozen weight would shrink under decay even with zero gradient
  s.freeze = {"net.1", "net.4.weight"};
  s.lr_mults = {{"net.7", 0.0f}};
  optim::SGD sgd(arena, s);
  sgd.step(0.1f);
  sgd.step(0.1f);
  for (const auto& e : arena.entries()) {
    bool same = true;
    for (int64_t i = e.offset; i < e.offset + e.numel; ++i) same = same && arena.data()[i] == before[i];
    const bool fixed = e.name.rfind("net.1.", 0) == 0 || e.name == "net.4.weight" || e.name.rfind("net.7", 0) == 0;
    EXPECT_EQ(same, fixed) << e.name;
  }
}

TEST(Transfer, BackboneFreezesAllButTheHead) {
  auto m = model_of("cnn", 10, 3);
  nn::ParameterArena arena(*m);
  RunConfig cfg;
  cfg.transfer.freeze = {"backbone"};
  const auto frozen = freeze_prefixes(cfg, arena);
  EXPECT_EQ(frozen.size(), arena.entries().size() - 2);
  for (const auto& f : frozen) EXPECT_EQ(f.rfind("net.12", 0), std::string::npos) << f;
}

// optim.lr_mult's "backbone" is the shortest prefix: every parameter outside the head that no other
// prefix names gets its factor; a named layer keeps its own, and the head keeps optim.lr.
TEST(Transfer, BackboneLrMultYieldsToNamedPrefixes) {
  auto m = model_of("cnn", 10, 3);
  nn::ParameterArena arena(*m);
  RunConfig cfg;
  cfg.optim.lr_mults = {{"backbone", 0.1}, {"net.4", 0.5}};
  const optim::OptimOptions o = transfer_optim_options(cfg, arena);
  const auto groups = optim::param_groups(arena, o);
  for (const auto& e : arena.entries()) {
    float mult = -1;
    for (const auto& g : groups)
      if (e.offset >= g.begin && e.offset < g.end) mult = g.lr_mult;
    const float want = e.name.rfind("net.12", 0) == 0 ? 1.0f : (e.name.rfind("net.4.", 0) == 0 ? 0.5f : 0.1f);
    EXPECT_FLOAT_EQ(mult, want) << e.name;
  }
}

// A frozen backbone is not backpropagated through: its arena gradients stay exactly zero after a
// backward, while the head's are computed (and equal those of the unfrozen model).
TEST(Transfer, FrozenLayersComputeNoGradient) {
  Tensor x = testing::random_tensor({8, 1, 28, 28}, 5);
  Tensor labels = Tensor::empty({8}, DType::i64);
  for (int64_t i = 0; i < 8; ++i) labels.data<int64_t>()[i] = i % 10;
  std::vector<float> head_grad[2];
  for (int frozen = 0; frozen < 2; ++frozen) {
    auto m = model_of("cnn", 10, 3);
    nn::ParameterArena arena(*m);
    RunConfig cfg;
    cfg.transfer.freeze = frozen ? std::vector<std::string>{"backbone"} : std::vector<std::string>{};
    const auto prefixes = freeze_prefixes(cfg, arena);
    EXPECT_EQ(stop_frozen_gradients(*m, prefixes), frozen ? static_cast<int64_t>(arena.entries().size()) - 2 : 0);
    arena.zero_grad();
    Context ctx(1);
    ops::cross_entropy(ctx, m->forward(ctx, Variable(x)), labels).backward();
    for (const auto& e : arena.entries()) {
      double sum_abs = 0;
      for (int64_t i = e.offset; i < e.offset + e.numel; ++i) sum_abs += std::fabs(arena.grad()[i]);
      const bool is_head = e.name.rfind("net.12", 0) == 0;
      if (is_head || !frozen) {
        EXPECT_GT(sum_abs, 0.0) << e.name << (frozen ? " (frozen backbone)" : "");
      } else {
        EXPECT_EQ(sum_abs, 0.0) << e.name;
      }
      if (e.name == "net.12.weight") head_grad[frozen].assign(arena.grad() + e.offset, arena.grad() + e.offset + e.numel);
    }
  }
  ASSERT_FALSE(head_grad[0].empty());
  EXPECT_EQ(head_grad[0], head_grad[1]);  // the head's gradient does not depend on the backbone's
}

TEST(Transfer, LoadMatchingReportsEverything) {
  auto src = model_of("mlp", 5, 11);
  auto dst = model_of("mlp", 10, 12);
  nn::StateDict sd = src->state_dict();
  sd.emplace_back("extra.weight", Tensor::zeros({3}));
  const TransferReport r = load_matching(*dst, sd, "src", {});
  EXPECT_EQ(r.loaded.size(), 4u);  // net.1.*, net.4.*; net.7.* differ in shape
  ASSERT_EQ(r.skipped.size(), 3u);
  EXPECT_EQ(r.initialized.size(), 2u);
  EXPECT_EQ(values(param(*dst, "net.4.weight")), values(param(*src, "net.4.weight")));
  EXPECT_NE(values(param(*dst, "net.7.bias")).size(), values(param(*src, "net.7.bias")).size());
  const std::string text = r.text();
  EXPECT_NE(text.find("4 loaded, 3 skipped, 2 newly initialized"), std::string::npos) << text;
  EXPECT_NE(text.find("net.7.weight: shape"), std::string::npos) << text;
  EXPECT_NE(text.find("extra.weight: not in the model"), std::string::npos) << text;
}

TEST(Transfer, CheckpointAndDataParallelNamesAreMapped) {
  auto src = model_of("mlp", 10, 21);
  auto dst = model_of("mlp", 10, 22);
  nn::StateDict ck, dp;
  for (auto& [n, t] : src->state_dict()) ck.emplace_back("model." + n, t), dp.emplace_back("module." + n, t);
  ck.emplace_back("optim.momentum_buffer", Tensor::zeros({4}));
  TransferReport r = load_matching(*dst, ck, "ck", {});
  EXPECT_EQ(r.loaded.size(), 6u);
  EXPECT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(values(param(*dst, "net.7.weight")), values(param(*src, "net.7.weight")));
  auto dst2 = model_of("mlp", 10, 23);
  EXPECT_EQ(load_matching(*dst2, dp, "dp", {}).loaded.size(), 6u);
}

TEST(Transfer, ResetHeadKeepsTheHeadFresh) {
  const std::string path = (std::filesystem::temp_directory_path() / "cvtrain_test_transfer.safetensors").string();
  auto src = model_of("mlp", 5, 31);
  save_model_file(path, *src, {});
  auto dst = model_of("mlp", 5, 32);
  const std::vector<float> fresh_head = values(param(*dst, "net.7.weight"));
  RunConfig cfg;
  cfg.model.name = "mlp";
  cfg.transfer.init_from = path;
  cfg.transfer.reset_head = 5;
  const std::string report = apply_transfer(cfg, *dst);
  EXPECT_NE(report.find("4 loaded, 2 skipped, 2 newly initialized"), std::string::npos) << report;
  EXPECT_EQ(values(param(*dst, "net.7.weight")), fresh_head);
  EXPECT_EQ(values(param(*dst, "net.1.weight")), values(param(*src, "net.1.weight")));
  cfg.transfer.reset_head = 3;  // the data has 5 classes
  EXPECT_THROW(apply_transfer(cfg, *dst), InputError);
  cfg.transfer.reset_head = 0;
  cfg.transfer.init_from = path + ".missing";
  EXPECT_THROW(apply_transfer(cfg, *dst), InputError);
  std::filesystem::remove(path);
}

TEST(Transfer, FreezeBatchNormLeavesOtherLayersTraining) {
  auto m = model_of("cnn", 10, 4);
  m->train();
  EXPECT_EQ(freeze_batchnorm(*m), 2);
  int64_t bn = 0, training = 0;
  std::function<void(nn::Module&)> walk = [&](nn::Module& x) {
    if (x.type() == "BatchNorm2d") bn += !x.training();
    else training += x.training();
    for (auto& [n, c] : x.children()) walk(*c);
  };
  walk(*m);
  EXPECT_EQ(bn, 2);
  EXPECT_GT(training, 0);
}

TEST(Subset, ClassesRelabelledAndLimitedPerClass) {
  const Dataset d = make_synthetic(40, 1, 8, 8, 7);  // labels i % 4
  const Dataset s = select_classes(d, {3, 1}, 0);
  ASSERT_EQ(s.size(), 20);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{d.class_names[3], d.class_names[1]}));
  for (int64_t i = 0; i < s.size(); ++i) EXPECT_EQ(s.labels.data<int64_t>()[i], i % 2 == 0 ? 1 : 0);
  // the first image kept is example 1 (class 1 -> label 1)
  EXPECT_EQ(std::memcmp(s.images.data<uint8_t>(), d.images.data<uint8_t>() + 64, 64), 0);
  const Dataset p = select_classes(d, {}, 3);
  EXPECT_EQ(p.size(), 12);
  EXPECT_EQ(p.num_classes(), 4);
  EXPECT_NO_THROW(check_class_list({3, 1}, 4, "data.classes"));
  EXPECT_THROW(check_class_list({1, 4}, 4, "data.classes"), InputError);
  EXPECT_THROW(check_class_list({1, 1}, 4, "data.classes"), InputError);
}

}  // namespace
}  // namespace cvtrain
