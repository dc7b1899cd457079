// Softmax-family kernels: the reference backward (softmax, log-softmax, cross-entropy with and
// without label smoothing, soft targets) against finite differences in double, then the fast
// kernels against the reference on random shapes with NaN-prefilled outputs, large logits included.
#include <cmath>
#include <limits>

#include "common/testing.h"
#include "cvtrain/backend/cpu/softmax.h"
#include "cvtrain/backend/ref/softmax.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {


std::vector<int64_t> random_labels(int64_t N, int64_t K, uint64_t seed) {
  Rng rng(seed);
  std::vector<int64_t> l(N);
  for (auto& v : l) v = static_cast<int64_t>(rng.below(K));
  return l;
}

// Rows of positive numbers summing to `total` (1 for probabilities).
std::vector<double> random_targets(int64_t N, int64_t K, uint64_t seed, double total = 1.0) {
  std::vector<double> t = random_doubles(N * K, seed, 0.0, 1.0);
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += t[n * K + k];
    for (int64_t k = 0; k < K; ++k) t[n * K + k] *= total / s;
  }
  return t;
}

Tensor tensor_of(const std::vector<double>& v) {
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), {static_cast<int64_t>(v.size())});
}
Tensor tensor_of(const std::vector<float>& v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }

}  // namespace

TEST(SoftmaxRef, SoftmaxAndLogSoftmaxBackwardMatchFiniteDifferences) {
  const int64_t N = 3, K = 5;
  std::vector<double> x = random_doubles(N * K, 1, -3, 3), r = random_doubles(N * K, 2), y(N * K), dx(N * K);
  auto f_soft = [&](const std::vector<double>& v) {
    std::vector<double> out(N * K);
    ref::softmax_forward(v.data(), out.data(), N, K);
    return dot(out, r);
  };
  ref::softmax_forward(x.data(), y.data(), N, K);
  ref::softmax_backward(y.data(), r.data(), dx.data(), N, K);
  EXPECT_TRUE(all_close(dx, numeric_grad(f_soft, x)));
  auto f_log = [&](const std::vector<double>& v) {
    std::vector<double> out(N * K);
    ref::log_softmax_forward(v.data(), out.data(), N, K);
    return dot(out, r);
  };
  ref::log_softmax_forward(x.data(), y.data(), N, K);
  ref::log_softmax_backward(y.data(), r.data(), dx.data(), N, K);
  EXPECT_TRUE(all_close(dx, numeric_grad(f_log, x)));
}

TEST(SoftmaxRef, CrossEntropyBackwardMatchesFiniteDifferences) {
  const int64_t N = 4, K = 6;
  const std::vector<int64_t> labels = random_labels(N, K, 3);
  std::vector<double> x = random_doubles(N * K, 4, -3, 3), prob(N * K), rows(N), dx(N * K);
  for (double s : {0.0, 0.1, 0.7}) {
    auto f = [&](const std::vector<double>& v) {
      std::vector<double> p(N * K), l(N);
      return ref::cross_entropy_forward(v.data(), labels.data(), s, p.data(), l.data(), N, K);
    };
    ref::cross_entropy_forward(x.data(), labels.data(), s, prob.data(), rows.data(), N, K);
    ref::cross_entropy_backward(prob.data(), labels.data(), s, 1.7, dx.data(), N, K);
    std::vector<double> num = numeric_grad(f, x);
    for (double& g : num) g *= 1.7;
    EXPECT_TRUE(all_close(dx, num)) << "smoothing " << s;
  }
}

TEST(SoftmaxRef, SoftTargetsBackwardMatchesFiniteDifferences) {
  const int64_t N = 4, K = 6;
  std::vector<double> x = random_doubles(N * K, 5, -3, 3), prob(N * K), rows(N), dx(N * K);
  for (double total : {1.0, 0.8}) {  // 0.8: rows that do not sum to one still get the exact gradient
    const std::vector<double> t = random_targets(N, K, 6, total);
    auto f = [&](const std::vector<double>& v) {
      std::vector<double> p(N * K), l(N);
      return ref::cross_entropy_soft_forward(v.data(), t.data(), p.data(), l.data(), N, K);
    };
    ref::cross_entropy_soft_forward(x.data(), t.data(), prob.data(), rows.data(), N, K);
    ref::cross_entropy_soft_backward(prob.data(), t.data(), 1.0, dx.data(), N, K);
    EXPECT_TRUE(all_close(dx, numeric_grad(f, x))) << "target rows sum to " << total;
  }
}

TEST(SoftmaxRef, OneHotSoftTargetsEqualLabels) {
  const int64_t N = 3, K = 4;
  const std::vector<int64_t> labels = {2, 0, 3};
  std::vector<double> x = random_doubles(N * K, 7, -2, 2), t(N * K, 0.0), p(N * K), l(N);
  for (int64_t n = 0; n < N; ++n) t[n * K + labels[n]] = 1.0;
  EXPECT_DOUBLE_EQ(ref::cross_entropy_forward(x.data(), labels.data(), 0.0, p.data(), l.data(), N, K),
                   ref::cross_entropy_soft_forward(x.data(), t.data(), p.data(), l.data(), N, K));
}

TEST(SoftmaxCpu, MatchesReference) {
  uint64_t seed = 20;
  for (auto [N, K] : {std::pair<int64_t, int64_t>{128, 10}, {1, 1}, {7, 3}, {4096, 10}, {33, 1000}}) {
    for (float scale : {3.0f, 300.0f}) {  // 300: exp overflows without subtracting the row maximum
      SCOPED_TRACE(::testing::Message() << "N=" << N << " K=" << K << " scale=" << scale);
      const int64_t n = N * K;
      std::vector<float> x = random_tensor({n}, ++seed, -scale, scale).to_vector();
      std::vector<float> dy = random_tensor({n}, ++seed).to_vector();
      const std::vector<double> xd(x.begin(), x.end());
      std::vector<double> y_ref(n), dx_ref(n);
      std::vector<float> y(n, kNaN), dx(n, kNaN);
      ref::softmax_forward(xd.data(), y_ref.data(), N, K);
      cpu::softmax_forward(x.data(), y.data(), N, K);
      EXPECT_TRUE(all_close(tensor_of(y), tensor_of(y_ref), 1e-6f, 1e-4f));
      const std::vector<double> yd(y.begin(), y.end()), dyd(dy.begin(), dy.end());
      ref::softmax_backward(yd.data(), dyd.data(), dx_ref.data(), N, K);
      cpu::softmax_backward(y.data(), dy.data(), dx.data(), N, K);
      EXPECT_TRUE(all_close(tensor_of(dx), tensor_of(dx_ref), 1e-6f, 1e-4f));

      std::fill(y.begin(), y.end(), kNaN);
      std::fill(dx.begin(), dx.end(), kNaN);
      ref::log_softmax_forward(xd.data(), y_ref.data(), N, K);
      cpu::log_softmax_forward(x.data(), y.data(), N, K);
      EXPECT_TRUE(all_close(tensor_of(y), tensor_of(y_ref), 1e-5f, 1e-5f));
      const std::vector<double> yl(y.begin(), y.end());
      ref::log_softmax_backward(yl.data(), dyd.data(), dx_ref.data(), N, K);
      cpu::log_softmax_backward(y.data(), dy.data(), dx.data(), N, K);
      EXPECT_TRUE(all_close(tensor_of(dx), tensor_of(dx_ref), 1e-5f, 1e-4f));
    }
  }
}

TEST(CrossEntropyCpu, MatchesReference) {
  uint64_t seed = 50;
  for (auto [N, K] : {std::pair<int64_t, int64_t>{128, 10}, {1, 1}, {5, 2}, {4096, 10}, {33, 1000}}) {
    for (float scale : {3.0f, 300.0f}) {
      for (float s : {0.0f, 0.1f}) {
        SCOPED_TRACE(::testing::Message() << "N=" << N << " K=" << K << " scale=" << scale << " smoothing=" << s);
        const int64_t n = N * K;
        std::vector<float> x = random_tensor({n}, ++seed, -scale, scale).to_vector();
        const std::vector<double> xd(x.begin(), x.end());
        const std::vector<int64_t> labels = random_labels(N, K, ++seed);
        std::vector<double> p_ref(n), l_ref(N), dx_ref(n);
        std::vector<float> p(n, kNaN), l(N, kNaN), dx(n, kNaN);
        const double loss_ref = ref::cross_entropy_forward(xd.data(), labels.data(), double(s), p_ref.data(),
                                                           l_ref.data(), N, K);
        const float loss = cpu::cross_entropy_forward(x.data(), labels.data(), s, p.data(), l.data(), N, K);
        EXPECT_NEAR(loss, loss_ref, 1e-5 + 1e-5 * std::fabs(loss_ref));
        EXPECT_TRUE(all_close(tensor_of(l), tensor_of(l_ref), 1e-5f, 1e-5f));
        EXPECT_TRUE(all_close(tensor_of(p), tensor_of(p_ref), 1e-7f, 1e-4f));
        ref::cross_entropy_backward(p_ref.data(), labels.data(), double(s), 0.5, dx_ref.data(), N, K);
        cpu::cross_entropy_backward(p.data(), labels.data(), s, 0.5f, dx.data(), N, K);
        EXPECT_TRUE(all_close(tensor_of(dx), tensor_of(dx_ref), 1e-7f, 1e-4f));
      }
    }
  }
}

TEST(CrossEntropyCpu, SoftTargetsMatchReference) {
  uint64_t seed = 80;
  for (auto [N, K] : {std::pair<int64_t, int64_t>{128, 10}, {1, 1}, {4096, 10}, {33, 1000}}) {
    for (float scale : {3.0f, 300.0f}) {
      SCOPED_TRACE(::testing::Message() << "N=" << N << " K=" << K << " scale=" << scale);
      const int64_t n = N * K;
      std::vector<float> x = random_tensor({n}, ++seed, -scale, scale).to_vector();
      const std::vector<double> td = random_targets(N, K, ++seed);
      const std::vector<float> t(td.begin(), td.end());
      const std::vector<double> xd(x.begin(), x.end()), tdf(t.begin(), t.end());
      std::vector<double> p_ref(n), l_ref(N), dx_ref(n);
      std::vector<float> p(n, kNaN), l(N, kNaN), dx(n, kNaN);
      const double loss_ref = ref::cross_entropy_soft_forward(xd.data(), tdf.data(), p_ref.data(), l_ref.data(), N, K);
      const float loss = cpu::cross_entropy_soft_forward(x.data(), t.data(), p.data(), l.data(), N, K);
      EXPECT_NEAR(loss, loss_ref, 1e-5 + 1e-5 * std::fabs(loss_ref));
      EXPECT_TRUE(all_close(tensor_of(l), tensor_of(l_ref), 1e-5f, 1e-5f));
      ref::cross_entropy_soft_backward(p_ref.data(), tdf.data(), 2.0, dx_ref.data(), N, K);
      cpu::cross_entropy_soft_backward(p.data(), t.data(), 2.0f, dx.data(), N, K);
      EXPECT_TRUE(all_close(tensor_of(dx), tensor_of(dx_ref), 1e-7f, 1e-4f));
    }
  }
}
