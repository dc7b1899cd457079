// Softmax, log-softmax and cross-entropy ops: values recorded from PyTorch
// (tests/fixtures/cross_entropy.txt, record_normloss.py) for ordinary and large logits, with and
// without label smoothing and with soft targets; the autograd wiring by finite differences; checks.
#include "common/testing.h"
#include "cvtrain/ops/loss.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

Tensor labels_of(const Tensor& t) {  // fixtures store labels as floats
  std::vector<float> v = t.to_vector();
  Tensor l = Tensor::empty({static_cast<int64_t>(v.size())}, DType::i64);
  for (size_t i = 0; i < v.size(); ++i) l.data<int64_t>()[i] = static_cast<int64_t>(v[i]);
  return l;
}

const char* kTags[] = {"", "big_"};  // big_: logits up to +-300

}  // namespace

TEST(Softmax, MatchesPyTorch) {
  auto f = load_fixture("cross_entropy");
  for (std::string tag : kTags) {
    SCOPED_TRACE(tag);
    Context ctx;
    Variable x(f.at(tag + "logits"), true);
    Variable y = ops::softmax(ctx, x);
    EXPECT_TRUE(all_close(y.data(), f.at(tag + "softmax_y"), 1e-7f, 1e-5f));
    y.backward(f.at(tag + "dy"));
    EXPECT_TRUE(all_close(x.grad(), f.at(tag + "softmax_dx"), 1e-6f, 1e-4f));
  }
}

TEST(LogSoftmax, MatchesPyTorch) {
  auto f = load_fixture("cross_entropy");
  for (std::string tag : kTags) {
    SCOPED_TRACE(tag);
    Context ctx;
    Variable x(f.at(tag + "logits"), true);
    Variable y = ops::log_softmax(ctx, x);
    EXPECT_TRUE(all_close(y.data(), f.at(tag + "log_softmax_y"), 1e-5f, 1e-5f));
    y.backward(f.at(tag + "dy"));
    EXPECT_TRUE(all_close(x.grad(), f.at(tag + "log_softmax_dx"), 1e-5f, 1e-4f));
  }
}

TEST(CrossEntropy, MatchesPyTorch) {
  auto f = load_fixture("cross_entropy");
  for (std::string tag : kTags)
    for (std::string ls : {"0", "0.1"}) {
      SCOPED_TRACE(tag + " label_smoothing " + ls);
      Context ctx;
      Variable x(f.at(tag + "logits"), true);
      Variable loss = ops::cross_entropy(ctx, x, labels_of(f.at(tag + "labels")), std::stof(ls));
      EXPECT_EQ(loss.shape(), Shape{});
      const std::string key = tag + "ce_ls" + ls + "_";
      EXPECT_TRUE(all_close(loss.data(), f.at(key + "loss"), 1e-5f, 1e-5f));
      loss.backward();
      EXPECT_TRUE(all_close(x.grad(), f.at(key + "dlogits"), 1e-7f, 1e-4f));
    }
}

TEST(CrossEntropySoft, MatchesPyTorch) {
  auto f = load_fixture("cross_entropy");
  for (std::string tag : kTags) {
    SCOPED_TRACE(tag);
    Context ctx;
    Variable x(f.at(tag + "logits"), true);
    Variable loss = ops::cross_entropy_soft(ctx, x, f.at(tag + "soft_targets"));
    EXPECT_TRUE(all_close(loss.data(), f.at(tag + "soft_loss"), 1e-5f, 1e-5f));
    loss.backward();
    EXPECT_TRUE(all_close(x.grad(), f.at(tag + "soft_dlogits"), 1e-7f, 1e-4f));
  }
}

// Smoothed probability targets are PyTorch's label_smoothing: on one-hot targets the loss and its
// gradient are cross_entropy's with labels (recorded from PyTorch), and on mixed targets the loss is
// the same blend of the unsmoothed loss and the loss against the uniform distribution.
TEST(CrossEntropySoft, SmoothsTargetsAsPyTorchLabelSmoothing) {
  auto f = load_fixture("cross_entropy");
  for (std::string tag : kTags) {
    SCOPED_TRACE(tag);
    const Tensor logits = f.at(tag + "logits"), labels = labels_of(f.at(tag + "labels"));
    const int64_t N = logits.size(0), K = logits.size(1);
    Tensor one_hot = Tensor::zeros({N, K});
    for (int64_t n = 0; n < N; ++n) one_hot.data<float>()[n * K + labels.data<int64_t>()[n]] = 1.0f;
    Context ctx;
    Variable x(logits, true);
    Variable loss = ops::cross_entropy_soft(ctx, x, one_hot, 0.1f);
    EXPECT_TRUE(all_close(loss.data(), f.at(tag + "ce_ls0.1_loss"), 1e-5f, 1e-5f));
    loss.backward();
    EXPECT_TRUE(all_close(x.grad(), f.at(tag + "ce_ls0.1_dlogits"), 1e-7f, 1e-4f));

    const Tensor mixed = f.at(tag + "soft_targets"), uniform = Tensor::full({N, K}, 1.0f / static_cast<float>(K));
    auto loss_of = [&](const Tensor& t, float s) { return ops::cross_entropy_soft(ctx, Variable(logits), t, s).item(); };
    EXPECT_NEAR(loss_of(mixed, 0.3f), 0.7f * loss_of(mixed, 0.0f) + 0.3f * loss_of(uniform, 0.0f),
                1e-5f * std::abs(loss_of(mixed, 0.0f)));
  }
}

TEST(Softmax, GradientsMatchFiniteDifferences) {
  Tensor x = random_tensor({4, 6}, 1, -2.0f, 2.0f);
  EXPECT_TRUE(check_op_gradients([](Context& c, const std::vector<Variable>& in) { return ops::softmax(c, in[0]); },
                                 {x}));
  EXPECT_TRUE(check_op_gradients(
      [](Context& c, const std::vector<Variable>& in) { return ops::log_softmax(c, in[0]); }, {x}));
}

TEST(CrossEntropy, GradientsMatchFiniteDifferences) {
  Tensor x = random_tensor({5, 4}, 2, -2.0f, 2.0f);
  Tensor labels = Tensor::empty({5}, DType::i64);
  for (int64_t i = 0; i < 5; ++i) labels.data<int64_t>()[i] = (3 * i + 1) % 4;
  for (float ls : {0.0f, 0.2f})
    EXPECT_TRUE(check_op_gradients(
        [&](Context& c, const std::vector<Variable>& in) { return ops::cross_entropy(c, in[0], labels, ls); }, {x}));
  Tensor t = random_tensor({5, 4}, 3, 0.0f, 1.0f);
  for (float ls : {0.0f, 0.2f})
    EXPECT_TRUE(check_op_gradients(
        [&](Context& c, const std::vector<Variable>& in) { return ops::cross_entropy_soft(c, in[0], t, ls); }, {x}));
}

TEST(CrossEntropy, RejectsBadInput) {
  Context ctx;
  Variable x(Tensor::zeros({2, 3}));
  Tensor good = Tensor::zeros({2}, DType::i64), bad = Tensor::zeros({2}, DType::i64);
  bad.data<int64_t>()[1] = 3;
  EXPECT_THROW(ops::cross_entropy(ctx, x, bad), Error);                         // label out of range
  EXPECT_THROW(ops::cross_entropy(ctx, x, Tensor::zeros({2})), Error);          // f32 labels
  EXPECT_THROW(ops::cross_entropy(ctx, x, Tensor::zeros({3}, DType::i64)), Error);  // wrong batch
  EXPECT_THROW(ops::cross_entropy(ctx, x, good, 1.5f), Error);
  EXPECT_THROW(ops::cross_entropy(ctx, Variable(Tensor::zeros({6})), good), Error);
  EXPECT_THROW(ops::cross_entropy_soft(ctx, x, Tensor::zeros({2, 4})), Error);
  EXPECT_THROW(ops::cross_entropy_soft(ctx, x, Tensor::zeros({2, 3}), 1.5f), Error);
}
