// The overlapped gradient all-reduce's two parts: the autograd engine's gradient-ready hook
// (each parameter reported once, when its gradient is final) and GradientAllreduce's buckets
// (reverse parameter order, started in order, the same result with and without overlap, bit for
// bit). A fake communicator doubles a bucket the moment it is started: a bucket started before its
// gradients were final would end differently.
#include <cstring>
#include <map>

#include "common/testing.h"
#include "cvtrain/dist/data_parallel.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/loss.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

class DoublingComm final : public dist::Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string describe() const override { return "fake"; }
  void allreduce_sum(float* d, int64_t n, const char*) override {
    for (int64_t i = 0; i < n; ++i) d[i] *= 2;
  }
  void allreduce_sum(double* d, int64_t n, const char*) override {
    for (int64_t i = 0; i < n; ++i) d[i] *= 2;
  }
  void broadcast(float*, int64_t, int, const char*) override {}
  void broadcast(uint64_t*, int64_t, int, const char*) override {}
  void abort(int) override {}
  void start_allreduce_sum(float* d, int64_t n, const char* what) override {
    starts.push_back({d, n});
    allreduce_sum(d, n, what);
  }
  void progress() override { ++progressed; }
  void wait_started(const char*) override { ++waits; }
  std::vector<std::pair<float*, int64_t>> starts;
  int progressed = 0, waits = 0;
};

struct Net {
  Rng rng{7};
  std::shared_ptr<nn::Module> model = nn::build_model({"cnn"}, rng);
  nn::ParameterArena arena{*model};
  Tensor x = random_tensor({4, 1, 28, 28}, 5);
  Tensor y = Tensor::empty({4}, DType::i64);
  Net() {
    for (int64_t i = 0; i < 4; ++i) y.data<int64_t>()[i] = i * 3 % 10;
  }
  Variable loss(Context& ctx) { return ops::cross_entropy(ctx, model->forward(ctx, Variable(x)), y); }
};

}  // namespace

TEST(GradReadyHook, EachParameterOnceWithItsFinalGradient) {
  Net s;
  Context ctx(0, 1);
  std::map<const VarImpl*, std::vector<float>> at_ready;
  std::vector<const VarImpl*> order;
  s.arena.zero_grad();
  s.loss(ctx).backward([&](const VarImpl& leaf) {
    EXPECT_FALSE(at_ready.count(&leaf)) << "reported twice";
    const Tensor g = leaf.grad.contiguous();
    at_ready[&leaf].assign(g.data<float>(), g.data<float>() + g.numel());
    order.push_back(&leaf);
  });
  auto params = s.model->named_parameters();
  ASSERT_EQ(at_ready.size(), params.size());
  for (auto& [name, v] : params) {
    const Tensor g = v->grad().contiguous();
    ASSERT_TRUE(at_ready.count(v->impl().get())) << name;
    EXPECT_EQ(0, std::memcmp(at_ready[v->impl().get()].data(), g.data<float>(), g.numel() * sizeof(float)))
        << name << ": its gradient changed after it was reported final";
  }
  // the classifier's parameters first, the first convolution's last
  EXPECT_EQ(order.back() == params[0].second->impl().get() || order.back() == params[1].second->impl().get(), true);
  EXPECT_TRUE(order.front() == params.back().second->impl().get() ||
              order.front() == params[params.size() - 2].second->impl().get());
}

TEST(GradientAllreduce, BucketsTileTheArenaInReverseOrder) {
  Net s;
  auto buckets = dist::make_grad_buckets(s.arena, 4096);
  ASSERT_GT(buckets.size(), 2u);
  EXPECT_EQ(buckets.front().end, s.arena.size());
  EXPECT_EQ(buckets.back().begin, 0);
  for (size_t b = 0; b + 1 < buckets.size(); ++b) {
    EXPECT_EQ(buckets[b + 1].end, buckets[b].begin);
    if (b + 1 < buckets.size() - 1) EXPECT_GE(buckets[b].end - buckets[b].begin, 4096);
  }
  EXPECT_EQ(dist::make_grad_buckets(s.arena, int64_t(1) << 40).size(), 1u);  // one bucket: the whole arena
}

TEST(GradientAllreduce, OverlappedEqualsAfterTheBackwardBitForBit) {
  std::vector<float> result[2];
  for (int overlap = 0; overlap < 2; ++overlap) {
    Net s;  // the same weights and batch each time
    Context ctx(0, 1);
    DoublingComm comm;
    dist::GradientAllreduce reducer(comm, *s.model, s.arena, 4096);
    s.arena.zero_grad();
    if (overlap) {
      s.loss(ctx).backward(reducer.hook());
      EXPECT_GT(comm.starts.size(), 1u) << "buckets started during the backward";
      EXPECT_GT(comm.progressed, 0);
    } else {
      s.loss(ctx).backward();
      EXPECT_TRUE(comm.starts.empty());
    }
    reducer.finish();
    EXPECT_EQ(comm.waits, 1);
    ASSERT_EQ(comm.starts.size(), reducer.buckets().size());
    for (size_t b = 0; b < reducer.buckets().size(); ++b)  // started in bucket order, whole buckets
      EXPECT_EQ(comm.starts[b].first, s.arena.grad() + reducer.buckets()[b].begin) << b;
    result[overlap].assign(s.arena.grad(), s.arena.grad() + s.arena.size());
  }
  ASSERT_EQ(result[0].size(), result[1].size());
  EXPECT_EQ(0, std::memcmp(result[0].data(), result[1].data(), result[0].size() * sizeof(float)));
}
