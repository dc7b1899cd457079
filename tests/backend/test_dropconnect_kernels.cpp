// DropConnect kernels: the reference mask is philox_uniform element by element, its backward matches
// finite differences in double, and the fast kernel equals the reference bit for bit (NaN-prefilled
// outputs, sizes not a multiple of 4, one and two threads).
#include <omp.h>

#include "common/testing.h"
#include "cvtrain/backend/cpu/dropconnect.h"
#include "cvtrain/backend/ref/dropconnect.h"
#include "cvtrain/base/philox.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(DropConnectRef, MaskIsPhiloxAndBackwardMatchesFiniteDifferences) {
  const int64_t n = 37;
  const float p = 0.4f;
  std::vector<double> w = random_doubles(n, 1), r = random_doubles(n, 2), wm(n), mask(n), dw(n);
  ref::dropconnect_forward(w.data(), wm.data(), mask.data(), p, 5, 3, n);
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = philox_uniform(5, 3, static_cast<uint64_t>(i)) >= p;
    ASSERT_EQ(mask[i], keep ? static_cast<double>(1.0f / (1.0f - p)) : 0.0) << i;
    ASSERT_EQ(wm[i], w[i] * mask[i]) << i;
  }
  auto f = [&](const std::vector<double>& v) {
    std::vector<double> out(n), m(n);
    ref::dropconnect_forward(v.data(), out.data(), m.data(), p, 5, 3, n);
    return dot(out, r);
  };
  ref::dropconnect_backward(r.data(), mask.data(), dw.data(), n);
  EXPECT_TRUE(all_close(dw, numeric_grad(f, w), 1e-7, 1e-6));
}

TEST(DropConnectCpu, EqualsReferenceBitForBit) {
  const int saved = omp_get_max_threads();
  for (int64_t n : {1, 5, 4099, 70001}) {  // 70001: the parallel path
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      Tensor w = random_tensor({n}, 3), dy = random_tensor({n}, 4);
      std::vector<float> wm(n, kNaN), mask(n, kNaN), dw(n, kNaN), wm_ref(n), mask_ref(n), dw_ref(n);
      cpu::dropconnect_forward(w.data<float>(), wm.data(), mask.data(), 0.3f, 11, 7, n);
      ref::dropconnect_forward(w.data<float>(), wm_ref.data(), mask_ref.data(), 0.3f, 11, 7, n);
      EXPECT_EQ(wm, wm_ref) << n;
      EXPECT_EQ(mask, mask_ref) << n;
      cpu::dropconnect_backward(dy.data<float>(), mask.data(), dw.data(), n);
      ref::dropconnect_backward(dy.data<float>(), mask_ref.data(), dw_ref.data(), n);
      EXPECT_EQ(dw, dw_ref) << n;
    }
  }
  omp_set_num_threads(saved);
}
