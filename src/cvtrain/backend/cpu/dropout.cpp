#include "cvtrain/backend/cpu/dropout.h"

#include "cvtrain/base/philox.h"  // the mask must match philox_uniform bit for bit

namespace cvtrain::cpu {

void dropout_forward(const float* x, float* y, float* mask, float p, uint64_t seed, uint64_t stream, int64_t n,
                     float keep_scale) {
  const float scale = keep_scale < 0.0f ? 1.0f / (1.0f - p) : keep_scale;
  // One Philox call gives the four elements of counter block b = i/4 (philox_uniform's layout).
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t b = 0; b < blocks; ++b) {
    const std::array<uint32_t, 4> r = philox4x32(seed, stream, static_cast<uint64_t>(b));
    for (int64_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const int64_t i = 4 * b + j;
      const float u = philox_to_unit(r[j]);
      mask[i] = u >= p ? scale : 0.0f;
      y[i] = x[i] * mask[i];
    }
  }
}

void dropout_backward(const float* dy, const float* mask, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * mask[i];
}

}  // namespace cvtrain::cpu
