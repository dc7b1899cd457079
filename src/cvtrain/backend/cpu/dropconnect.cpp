// DropConnect mask kernels: one Philox call gives the four mask elements of counter block i/4.
#include "cvtrain/backend/cpu/dropconnect.h"

#include "cvtrain/base/philox.h"  // the mask must match philox_uniform bit for bit

namespace cvtrain::cpu {

void dropconnect_forward(const float* w, float* w_masked, float* mask, float p, uint64_t seed, uint64_t stream,
                         int64_t n) {
  const float scale = 1.0f / (1.0f - p);
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t b = 0; b < blocks; ++b) {
    const std::array<uint32_t, 4> r = philox4x32(seed, stream, static_cast<uint64_t>(b));
    for (int64_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const int64_t i = 4 * b + j;
      mask[i] = philox_to_unit(r[j]) >= p ? scale : 0.0f;
      w_masked[i] = w[i] * mask[i];
    }
  }
}

void dropconnect_backward(const float* dw_masked, const float* mask, float* dw, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) dw[i] = dw_masked[i] * mask[i];
}

}  // namespace cvtrain::cpu
