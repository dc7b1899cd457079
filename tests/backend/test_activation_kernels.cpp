// Activation kernels: each reference backward against finite differences in double, the fast
// kernels against the reference on random inputs with NaN-prefilled outputs, and the tails (no
// overflow to inf or NaN for |x| up to 1e4 and beyond).
#include <cmath>
#include <functional>
#include <limits>

#include "common/testing.h"
#include "cvtrain/backend/cpu/activation.h"
#include "cvtrain/backend/ref/activation.h"
#include "cvtrain/ops/activation.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

const double kSeluA = ops::kSeluAlpha, kSeluS = ops::kSeluScale;

// One activation as both twins: forward(x, y, n), backward(x, y, dy, dx, n) per scalar type.
struct Twin {
  const char* name;
  std::function<void(const double*, double*, int64_t)> ref_fwd;
  std::function<void(const double*, const double*, const double*, double*, int64_t)> ref_bwd;
  std::function<void(const float*, float*, int64_t)> cpu_fwd;
  std::function<void(const float*, const float*, const float*, float*, int64_t)> cpu_bwd;
  std::function<void(const float*, float*, int64_t)> ref_fwd_f;
  std::function<void(const float*, const float*, const float*, float*, int64_t)> ref_bwd_f;
};

// backward from x (most) or from y (sigmoid, tanh)
#define FROM_X(f, ...)                                                                                   \
  [](const auto* x, const auto* y, const auto* dy, auto* dx, int64_t n) { f(x, dy, dx, n __VA_OPT__(, ) __VA_ARGS__); }
#define FROM_Y(f)                                                                                        \
  [](const auto* x, const auto* y, const auto* dy, auto* dx, int64_t n) { f(y, dy, dx, n); }
#define FWD(f, ...) [](const auto* x, auto* y, int64_t n) { f(x, y, n __VA_OPT__(, ) __VA_ARGS__); }

std::vector<Twin> twins() {
  return {
      {"sigmoid", FWD(ref::sigmoid_forward<double>), FROM_Y(ref::sigmoid_backward<double>), FWD(cpu::sigmoid_forward),
       FROM_Y(cpu::sigmoid_backward), FWD(ref::sigmoid_forward<float>), FROM_Y(ref::sigmoid_backward<float>)},
      {"tanh", FWD(ref::tanh_forward<double>), FROM_Y(ref::tanh_backward<double>), FWD(cpu::tanh_forward),
       FROM_Y(cpu::tanh_backward), FWD(ref::tanh_forward<float>), FROM_Y(ref::tanh_backward<float>)},
      {"leaky_relu", FWD(ref::leaky_relu_forward<double>, 0.1), FROM_X(ref::leaky_relu_backward<double>, 0.1),
       FWD(cpu::leaky_relu_forward, 0.1f), FROM_X(cpu::leaky_relu_backward, 0.1f),
       FWD(ref::leaky_relu_forward<float>, 0.1f), FROM_X(ref::leaky_relu_backward<float>, 0.1f)},
      {"elu", FWD(ref::elu_forward<double>, 0.7, 1.0), FROM_X(ref::elu_backward<double>, 0.7, 1.0),
       FWD(cpu::elu_forward, 0.7f, 1.0f), FROM_X(cpu::elu_backward, 0.7f, 1.0f),
       FWD(ref::elu_forward<float>, 0.7f, 1.0f), FROM_X(ref::elu_backward<float>, 0.7f, 1.0f)},
      {"selu", FWD(ref::elu_forward<double>, kSeluA, kSeluS), FROM_X(ref::elu_backward<double>, kSeluA, kSeluS),
       FWD(cpu::elu_forward, float(kSeluA), float(kSeluS)), FROM_X(cpu::elu_backward, float(kSeluA), float(kSeluS)),
       FWD(ref::elu_forward<float>, float(kSeluA), float(kSeluS)),
       FROM_X(ref::elu_backward<float>, float(kSeluA), float(kSeluS))},
      {"gelu", FWD(ref::gelu_forward<double>, false), FROM_X(ref::gelu_backward<double>, false),
       FWD(cpu::gelu_forward, false), FROM_X(cpu::gelu_backward, false), FWD(ref::gelu_forward<float>, false),
       FROM_X(ref::gelu_backward<float>, false)},
      {"gelu_tanh", FWD(ref::gelu_forward<double>, true), FROM_X(ref::gelu_backward<double>, true),
       FWD(cpu::gelu_forward, true), FROM_X(cpu::gelu_backward, true), FWD(ref::gelu_forward<float>, true),
       FROM_X(ref::gelu_backward<float>, true)},
      {"silu", FWD(ref::silu_forward<double>), FROM_X(ref::silu_backward<double>), FWD(cpu::silu_forward),
       FROM_X(cpu::silu_backward), FWD(ref::silu_forward<float>), FROM_X(ref::silu_backward<float>)},
  };
}


}  // namespace

TEST(ActivationRef, BackwardMatchesFiniteDifferences) {
  const int64_t n = 64;
  for (const Twin& t : twins()) {
    SCOPED_TRACE(t.name);
    std::vector<double> x = random_doubles(n, 1, -4, 4), r = random_doubles(n, 2), y(n), dx(n);
    for (double& v : x)
      if (std::abs(v) < 1e-3) v = 0.5;  // keep the kinks of leaky_relu/elu out of the +-eps steps
    t.ref_fwd(x.data(), y.data(), n);
    t.ref_bwd(x.data(), y.data(), r.data(), dx.data(), n);
    auto f = [&](const std::vector<double>& v) {
      std::vector<double> out(n);
      t.ref_fwd(v.data(), out.data(), n);
      return dot(out, r);
    };
    EXPECT_TRUE(all_close(dx, numeric_grad(f, x), 1e-7, 1e-6));
  }
}

TEST(ActivationRef, PReluBackwardMatchesFiniteDifferences) {
  for (int64_t C : {1, 3}) {
    const int64_t outer = 2, inner = C == 1 ? 15 : 5, n = outer * C * inner;
    std::vector<double> x = random_doubles(n, 3), w = random_doubles(C, 4, 0, 0.5), r = random_doubles(n, 5);
    std::vector<double> dx(n), dw(C, 123.0);
    ref::prelu_backward(x.data(), w.data(), r.data(), dx.data(), dw.data(), outer, C, inner);
    auto fx = [&](const std::vector<double>& v) {
      std::vector<double> out(n);
      ref::prelu_forward(v.data(), w.data(), out.data(), outer, C, inner);
      return dot(out, r);
    };
    auto fw = [&](const std::vector<double>& v) {
      std::vector<double> out(n);
      ref::prelu_forward(x.data(), v.data(), out.data(), outer, C, inner);
      return dot(out, r);
    };
    EXPECT_TRUE(all_close(dx, numeric_grad(fx, x), 1e-7, 1e-6)) << "C=" << C;
    EXPECT_TRUE(all_close(dw, numeric_grad(fw, w), 1e-7, 1e-6)) << "C=" << C;
  }
}

TEST(ActivationCpu, MatchesReferenceOnRandomInputs) {
  // 100003: above the parallel threshold and not a multiple of any vector width.
  for (int64_t n : {int64_t(7), int64_t(100003)}) {
    const std::vector<float> x = random_tensor({n}, 11, -8, 8).to_vector(), dy = random_tensor({n}, 12).to_vector();
    for (const Twin& t : twins()) {
      SCOPED_TRACE(std::string(t.name) + " n=" + std::to_string(n));
      std::vector<float> y(n, kNaN), dx(n, kNaN), ry(n), rdx(n);
      t.cpu_fwd(x.data(), y.data(), n);
      t.cpu_bwd(x.data(), y.data(), dy.data(), dx.data(), n);
      t.ref_fwd_f(x.data(), ry.data(), n);
      t.ref_bwd_f(x.data(), ry.data(), dy.data(), rdx.data(), n);
      EXPECT_TRUE(all_close(Tensor::from_vector(y, {n}), Tensor::from_vector(ry, {n}), 1e-6f, 1e-5f));
      EXPECT_TRUE(all_close(Tensor::from_vector(dx, {n}), Tensor::from_vector(rdx, {n}), 1e-6f, 1e-5f));
    }
  }
}

TEST(ActivationCpu, PReluMatchesReference) {
  const int64_t outer = 8, C = 16, inner = 300, n = outer * C * inner;  // parallel path
  const std::vector<float> x = random_tensor({n}, 21).to_vector(), dy = random_tensor({n}, 22).to_vector();
  const std::vector<float> w = random_tensor({C}, 23, 0, 0.5).to_vector();
  std::vector<float> y(n, kNaN), dx(n, kNaN), dw(C, kNaN), ry(n), rdx(n), rdw(C);
  cpu::prelu_forward(x.data(), w.data(), y.data(), outer, C, inner);
  cpu::prelu_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), outer, C, inner);
  ref::prelu_forward(x.data(), w.data(), ry.data(), outer, C, inner);
  ref::prelu_backward(x.data(), w.data(), dy.data(), rdx.data(), rdw.data(), outer, C, inner);
  EXPECT_TRUE(all_close(Tensor::from_vector(y, {n}), Tensor::from_vector(ry, {n}), 0, 0));
  EXPECT_TRUE(all_close(Tensor::from_vector(dx, {n}), Tensor::from_vector(rdx, {n}), 0, 0));
  EXPECT_TRUE(all_close(Tensor::from_vector(dw, {C}), Tensor::from_vector(rdw, {C}), 1e-4f, 1e-4f));
}

TEST(ActivationCpu, TailsStayFinite) {
  const std::vector<float> x = {-1e30f, -1e4f, -200.0f, -89.0f, -88.0f, 0.0f, 88.0f, 89.0f, 200.0f, 1e4f, 1e30f};
  const int64_t n = static_cast<int64_t>(x.size());
  const std::vector<float> dy(n, 1.0f);
  for (const Twin& t : twins()) {
    SCOPED_TRACE(t.name);
    std::vector<float> y(n, kNaN), dx(n, kNaN);
    t.cpu_fwd(x.data(), y.data(), n);
    t.cpu_bwd(x.data(), y.data(), dy.data(), dx.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_TRUE(std::isfinite(y[i]) || std::abs(x[i]) > 1e4f) << "y at x=" << x[i] << " is " << y[i];
      EXPECT_TRUE(std::isfinite(dx[i])) << "dx at x=" << x[i] << " is " << dx[i];
    }
  }
  // the saturating ones land exactly on their limits
  std::vector<float> y(n);
  cpu::sigmoid_forward(x.data(), y.data(), n);
  EXPECT_EQ(y.front(), 0.0f);
  EXPECT_EQ(y.back(), 1.0f);
  cpu::tanh_forward(x.data(), y.data(), n);
  EXPECT_EQ(y.front(), -1.0f);
  EXPECT_EQ(y.back(), 1.0f);
  cpu::elu_forward(x.data(), y.data(), n, 1.0f, 1.0f);
  EXPECT_EQ(y.front(), -1.0f);
}
