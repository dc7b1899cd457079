// Pointwise activation loops. Stable forms: sigmoid from exp(-|x|) (no overflow for large |x|),
// ELU's exp taken of min(x, 0) (no inf on the branch that is thrown away).
#include "cvtrain/backend/cpu/activation.h"

#include <cmath>

namespace cvtrain::cpu {

namespace {
constexpr int64_t kParallel = 32768;  // below this, threads cost more than they save
constexpr float kSqrt2Pi = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1 / sqrt(2 pi)

inline float sigmoid(float x) {
  float e = std::exp(-std::fabs(x));
  float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}
}  // namespace

void relu_forward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void sigmoid_forward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
}

void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

void tanh_forward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void tanh_backward(const float* y, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void leaky_relu_forward(const float* x, float* y, int64_t n, float slope) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void leaky_relu_backward(const float* x, const float* dy, float* dx, int64_t n, float slope) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i];
}

void elu_forward(const float* x, float* y, int64_t n, float alpha, float scale) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i)
    y[i] = scale * (x[i] > 0.0f ? x[i] : alpha * std::expm1(std::fmin(x[i], 0.0f)));
}

void elu_backward(const float* x, const float* dy, float* dx, int64_t n, float alpha, float scale) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i)
    dx[i] = dy[i] * scale * (x[i] > 0.0f ? 1.0f : alpha * std::exp(std::fmin(x[i], 0.0f)));
}

void gelu_forward(const float* x, float* y, int64_t n, bool approximate_tanh) {
  if (approximate_tanh) {
#pragma omp parallel for simd if (n > kParallel)
    for (int64_t i = 0; i < n; ++i) {
      float v = x[i];
      y[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2Pi * (v + 0.044715f * v * v * v)));
    }
  } else {
#pragma omp parallel for simd if (n > kParallel)
    for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
  }
}

void gelu_backward(const float* x, const float* dy, float* dx, int64_t n, bool approximate_tanh) {
  if (approximate_tanh) {
#pragma omp parallel for simd if (n > kParallel)
    for (int64_t i = 0; i < n; ++i) {
      // NOTE: clamped so that v^3 cannot overflow to inf times (1 - t^2) = 0; past |v| = 10, t is +-1
      // in f32 and the derivative is exactly 0 or 1 either way.
      float v = std::fmin(std::fmax(x[i], -10.0f), 10.0f);
      float t = std::tanh(kSqrt2Pi * (v + 0.044715f * v * v * v));
      float dinner = kSqrt2Pi * (1.0f + 3.0f * 0.044715f * v * v);
      dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner);
    }
  } else {
#pragma omp parallel for simd if (n > kParallel)
    for (int64_t i = 0; i < n; ++i) {
      float v = x[i];
      dx[i] = dy[i] * (0.5f * (1.0f + std::erf(v * kInvSqrt2)) + v * kInvSqrt2Pi * std::exp(-0.5f * v * v));
    }
  }
}

void silu_forward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid(x[i]);
}

void silu_backward(const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd if (n > kParallel)
  for (int64_t i = 0; i < n; ++i) {
    float s = sigmoid(x[i]);
    dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

void prelu_forward(const float* x, const float* w, float* y, int64_t outer, int64_t C, int64_t inner) {
#pragma omp parallel for collapse(2) if (outer * C * inner > kParallel)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t base = (o * C + c) * inner;
      const float a = w[c];
      for (int64_t i = 0; i < inner; ++i) y[base + i] = x[base + i] > 0.0f ? x[base + i] : a * x[base + i];
    }
}

void prelu_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, int64_t outer, int64_t C,
                    int64_t inner) {
  // One thread per channel sums its slope's gradient in a fixed order: deterministic.
#pragma omp parallel for if (outer * C * inner > kParallel)
  for (int64_t c = 0; c < C; ++c) {
    const float a = w[c];
    double acc = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t base = (o * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        const float v = x[base + i], g = dy[base + i];
        dx[base + i] = v > 0.0f ? g : a * g;
        acc += v > 0.0f ? 0.0 : static_cast<double>(g) * v;
      }
    }
    dw[c] = static_cast<float>(acc);
  }
}

}  // namespace cvtrain::cpu
