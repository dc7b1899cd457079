// Activation kernels: raw pointers and sizes in, no allocation, no autograd. Pointwise loops that
// the compiler vectorizes; their plain double-capable twins are in backend/ref/activation.h.
// Each backward takes what its derivative is cheapest from (the output y, or the input x).
#pragma once
#include <cstdint>

namespace cvtrain::cpu {

// x, y: (n)
void relu_forward(const float* x, float* y, int64_t n);
// y: forward output (n), dy: (n) -> dx: (n)
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);

// y = 1 / (1 + exp(-x)), written so exp never overflows. x, y: (n)
void sigmoid_forward(const float* x, float* y, int64_t n);
// dx = dy * y * (1 - y). y, dy, dx: (n)
void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n);

// y = tanh(x). x, y: (n)
void tanh_forward(const float* x, float* y, int64_t n);
// dx = dy * (1 - y^2). y, dy, dx: (n)
void tanh_backward(const float* y, const float* dy, float* dx, int64_t n);

// y = x > 0 ? x : slope * x (Maas et al. 2013). x, y: (n)
void leaky_relu_forward(const float* x, float* y, int64_t n, float slope);
// x, dy, dx: (n)
void leaky_relu_backward(const float* x, const float* dy, float* dx, int64_t n, float slope);

// y = scale * (x > 0 ? x : alpha * (exp(x) - 1)): ELU (Clevert et al. 2016) with scale 1, SELU
// (Klambauer et al. 2017) with its alpha and scale. x, y: (n)
void elu_forward(const float* x, float* y, int64_t n, float alpha, float scale);
// dx = dy * scale * (x > 0 ? 1 : alpha * exp(x)). x, dy, dx: (n)
void elu_backward(const float* x, const float* dy, float* dx, int64_t n, float alpha, float scale);

// GELU (Hendrycks & Gimpel 2016): exact x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), or with
// approximate_tanh 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). x, y: (n)
void gelu_forward(const float* x, float* y, int64_t n, bool approximate_tanh);
// x, dy, dx: (n)
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n, bool approximate_tanh);

// SiLU / Swish (Elfwing et al. 2018; Ramachandran et al. 2017): y = x * sigmoid(x). x, y: (n)
void silu_forward(const float* x, float* y, int64_t n);
// dx = dy * s * (1 + x (1 - s)), s = sigmoid(x). x, dy, dx: (n)
void silu_backward(const float* x, const float* dy, float* dx, int64_t n);

// PReLU (He et al. 2015): y = x > 0 ? x : w[c] * x, x viewed as (outer, C, inner); a shared slope
// is C = 1 with the channels folded into inner. x, y: (outer*C*inner), w: (C)
void prelu_forward(const float* x, const float* w, float* y, int64_t outer, int64_t C, int64_t inner);
// dx = x > 0 ? dy : w[c] dy; dw[c] = sum over x <= 0 of dy * x (overwritten, not accumulated).
// x, dy, dx: (outer*C*inner), w, dw: (C)
void prelu_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, int64_t outer, int64_t C,
                    int64_t inner);

}  // namespace cvtrain::cpu
