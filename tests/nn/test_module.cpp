// Module bookkeeping: names and order of parameters, buffers and state_dict entries (PyTorch's:
// a module's own parameters, its own buffers, then each child), train/eval, load_state_dict errors.
#include "common/testing.h"
#include "cvtrain/nn/module.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

std::vector<std::string> keys(const nn::StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& [k, t] : sd) out.push_back(k);
  return out;
}

class Leaf : public nn::Module {
 public:
  explicit Leaf(uint64_t seed) : Module("Leaf") {
    stat = &register_buffer("stat", random_tensor({2}, seed));
    w = register_parameter("w", random_tensor({2, 3}, seed + 1));
  }
  Variable forward(Context&, const Variable& x) override { return x; }
  Variable w;
  Tensor* stat;
};

// Registration deliberately interleaves kinds: param p, child a, buffer q, child b.
class Tree : public nn::Module {
 public:
  explicit Tree(uint64_t seed) : Module("Tree") {
    register_parameter("p", random_tensor({4}, seed));
    a = register_module("a", std::make_shared<Leaf>(seed + 10));
    register_buffer("q", Tensor::zeros({}, DType::i64));
    b = register_module("b", std::make_shared<Leaf>(seed + 20));
  }
  Variable forward(Context&, const Variable& x) override { return x; }
  std::shared_ptr<Leaf> a, b;
};

}  // namespace

TEST(Module, NamesFollowPyTorchOrder) {
  Tree t(1);
  std::vector<std::string> params, buffers;
  for (auto& [k, v] : t.named_parameters()) params.push_back(k);
  for (auto& [k, v] : t.named_buffers()) buffers.push_back(k);
  EXPECT_EQ(params, (std::vector<std::string>{"p", "a.w", "b.w"}));
  EXPECT_EQ(buffers, (std::vector<std::string>{"q", "a.stat", "b.stat"}));
  EXPECT_EQ(keys(t.state_dict()), (std::vector<std::string>{"p", "q", "a.w", "a.stat", "b.w", "b.stat"}));
  for (auto& [k, v] : t.named_parameters()) EXPECT_TRUE(v->requires_grad()) << k;
}

TEST(Module, StateDictSharesStorage) {
  Tree t(1);
  nn::StateDict sd = t.state_dict();
  EXPECT_EQ(sd[2].second.data<float>(), t.a->w.data().data<float>());
  EXPECT_EQ(sd[3].second.data<float>(), t.a->stat->data<float>());
}

TEST(Module, TrainEvalRecurse) {
  Tree t(1);
  EXPECT_TRUE(t.training() && t.a->training());
  t.eval();
  EXPECT_FALSE(t.training() || t.a->training() || t.b->training());
  t.train();
  EXPECT_TRUE(t.b->training());
}

TEST(Module, DescribeIndentsChildren) {
  Tree t(1);
  EXPECT_EQ(t.describe(), "Tree(\n  (a): Leaf()\n  (b): Leaf()\n)");
}

TEST(Module, LoadStateDictCopiesInPlace) {
  Tree src(1), dst(100);
  const float* w_before = dst.a->w.data().data<float>();
  dst.load_state_dict(src.state_dict());
  EXPECT_EQ(dst.a->w.data().data<float>(), w_before);  // same storage: arena views stay valid
  auto s = src.state_dict(), d = dst.state_dict();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].second.dtype() == DType::f32) {
      EXPECT_TRUE(all_close(d[i].second, s[i].second, 0, 0)) << s[i].first;
    }
  }
}

namespace {

std::string load_error(nn::Module& m, const nn::StateDict& sd, bool strict) {
  try {
    m.load_state_dict(sd, strict);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Module, LoadStateDictStrictNamesMissingAndUnexpectedKeys) {
  Tree src(1), dst(100);
  nn::StateDict sd = src.state_dict();
  sd.erase(sd.begin() + 2);  // a.w
  sd.emplace_back("c.w", Tensor::zeros({1}));
  std::string msg = load_error(dst, sd, true);
  EXPECT_NE(msg.find("missing keys: a.w"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected keys: c.w"), std::string::npos) << msg;
  // nothing was copied
  EXPECT_FALSE(all_close(dst.state_dict()[0].second, src.state_dict()[0].second, 0, 0));
  // not strict: the rest loads
  EXPECT_EQ(load_error(dst, sd, false), "");
  EXPECT_TRUE(all_close(dst.state_dict()[0].second, src.state_dict()[0].second, 0, 0));
}

TEST(Module, LoadStateDictNamesShapeAndDtypeMismatchEvenWhenNotStrict) {
  Tree dst(100);
  nn::StateDict sd = Tree(1).state_dict();
  sd[2].second = Tensor::zeros({3, 2});               // a.w: (2,3) in the model
  sd[1].second = Tensor::zeros({});                    // q: i64 in the model
  for (bool strict : {true, false}) {
    std::string msg = load_error(dst, sd, strict);
    EXPECT_NE(msg.find("a.w: f32(3,2) given, f32(2,3) in the model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("q: f32() given, i64() in the model"), std::string::npos) << msg;
  }
}

TEST(Module, LoadStateDictRejectsDuplicateKeys) {
  Tree dst(100);
  nn::StateDict sd = Tree(1).state_dict();
  sd.push_back(sd[0]);
  EXPECT_NE(load_error(dst, sd, true).find("key 'p' appears twice"), std::string::npos);
}
