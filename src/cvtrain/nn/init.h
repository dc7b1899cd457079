// Parameter initializers, as torch.nn.init defines them, drawing from an explicit Rng (the values
// differ from PyTorch's, the distributions do not). Host-side loops: they run once per model.
#pragma once
#include "cvtrain/tensor/rng.h"
#include "cvtrain/tensor/tensor.h"

namespace cvtrain::nn::init {

// torch.nn.init._calculate_fan_in_and_fan_out: fan_in = size(1) * prod(size(2:)) (a conv weight
// (OC,C/groups,KH,KW) gives C/groups*KH*KW), fan_out = size(0) * prod(size(2:)). Needs dim >= 2.
int64_t fan_in(const Shape& weight_shape);
int64_t fan_out(const Shape& weight_shape);

void uniform_(Tensor& t, float lo, float hi, Rng& rng);  // U[lo, hi), f32
void normal_(Tensor& t, float mean, float std, Rng& rng);

// kaiming_uniform_(w, a, mode='fan_in', nonlinearity='leaky_relu'): U(-b, b) with
// b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) (He et al. 2015, eq. 10).
// PyTorch's Linear and Conv default is a = sqrt(5), which makes b = 1/sqrt(fan_in).
void kaiming_uniform_(Tensor& w, double a, Rng& rng);

}  // namespace cvtrain::nn::init
