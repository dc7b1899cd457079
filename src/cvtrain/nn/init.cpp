// Initializers of torch.nn.init, sequential draws from the given Rng.
#include "cvtrain/nn/init.h"

#include <cmath>

namespace cvtrain::nn::init {

static int64_t receptive_field(const Shape& s) {
  CHECK(s.size() >= 2, "fan in/out of a tensor with fewer than 2 dimensions: ", shape_str(s));
  int64_t r = 1;
  for (size_t i = 2; i < s.size(); ++i) r *= s[i];
  return r;
}

int64_t fan_in(const Shape& s) { return s[1] * receptive_field(s); }
int64_t fan_out(const Shape& s) { return s[0] * receptive_field(s); }

void uniform_(Tensor& t, float lo, float hi, Rng& rng) {
  CHECK(t.is_contiguous(), "uniform_ on a non-contiguous ", t.describe());
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * rng.uniform();
}

void normal_(Tensor& t, float mean, float std, Rng& rng) {
  CHECK(t.is_contiguous(), "normal_ on a non-contiguous ", t.describe());
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + std * rng.normal();
}

void kaiming_uniform_(Tensor& w, double a, Rng& rng) {
  int64_t fan = fan_in(w.shape());
  CHECK(fan > 0, "kaiming_uniform_ of ", w.describe(), ": zero fan-in");
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  float bound = static_cast<float>(gain * std::sqrt(3.0 / static_cast<double>(fan)));
  uniform_(w, -bound, bound, rng);
}

}  // namespace cvtrain::nn::init
