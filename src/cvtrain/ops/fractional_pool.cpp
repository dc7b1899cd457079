// Fractional max pooling: the region sequences, then the op with its backward right below it.
// Kernels in backend/cpu/fractional_pool.h.
#include "cvtrain/ops/fractional_pool.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cvtrain/backend/cpu/fractional_pool.h"
#include "cvtrain/base/error.h"
#include "cvtrain/base/philox.h"
#include "cvtrain/ops/shape.h"

namespace cvtrain::ops {

const std::vector<std::string>& fmp_sequence_names() {
  static const std::vector<std::string> names = {"random", "pseudo_random"};
  return names;
}

FmpSequence fmp_sequence_from_name(const std::string& name) {
  return static_cast<FmpSequence>(index_of_name(fmp_sequence_names(), name, "model.fmp_sequence", "sequence"));
}

const char* fmp_sequence_name(FmpSequence s) { return fmp_sequence_names()[static_cast<size_t>(s)].c_str(); }

int64_t fmp_output_size(int64_t in, double ratio, bool overlapping) {
  CHECK(ratio > 1.0 && ratio < 2.0, "fractional max pooling: ratio ", ratio, " must be in (1, 2)");
  CHECK(in >= 2 && in <= (1 << 15), "fractional max pooling: input size ", in, " must be in [2, 32768]");
  const int64_t total = overlapping ? in - 1 : in;
  const auto out = static_cast<int64_t>(std::floor(static_cast<double>(in) / ratio));
  return std::clamp(out, (total + 1) / 2, total);
}

void fmp_sequence(int32_t* a, int64_t in, int64_t out, bool overlapping, FmpSequence kind, uint64_t key,
                  uint64_t stream, uint64_t counter) {
  const int64_t total = overlapping ? in - 1 : in;
  CHECK(in >= 2 && in <= (1 << 15) && out >= 1 && out <= total && 2 * out >= total, "fmp_sequence: ", out, " regions cannot cover ", in,
        " rows with steps of 1 or 2");
  if (kind == FmpSequence::pseudo_random) {
    // u = r / 2^24 exactly (r: the 24 bits of a Philox uniform), so with alpha = total/out every ceil is an
    // exact integer division: a_i = ceil(total (i 2^24 + r) / (out 2^24)) - ceil(total r / (out 2^24)).
    const auto r = static_cast<int64_t>(philox_uniform(key, stream, counter) * 16777216.0f);
    const int64_t den = out << 24;
    auto ceil_div = [](int64_t num, int64_t d) { return (num + d - 1) / d; };
    const int64_t base = ceil_div(total * r, den);
    for (int64_t i = 0; i <= out; ++i) a[i] = static_cast<int32_t>(ceil_div(total * ((i << 24) + r), den) - base);
    return;
  }
  // random: total - out increments of 2 at positions chosen by a partial Fisher-Yates shuffle
  const int64_t twos = total - out;
  std::vector<int64_t> pos(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) pos[static_cast<size_t>(i)] = i;
  std::vector<int32_t> step(static_cast<size_t>(out), 1);
  for (int64_t i = 0; i < twos; ++i) {
    const float u = philox_uniform(key, stream, counter + static_cast<uint64_t>(i));
    const int64_t j = std::min(out - 1, i + static_cast<int64_t>(u * static_cast<float>(out - i)));
    std::swap(pos[static_cast<size_t>(i)], pos[static_cast<size_t>(j)]);
    step[static_cast<size_t>(pos[static_cast<size_t>(i)])] = 2;
  }
  a[0] = 0;
  for (int64_t i = 0; i < out; ++i) a[i + 1] = a[i] + step[static_cast<size_t>(i)];
}

Variable fractional_max_pool2d(Context& ctx, const Variable& x_in, const Tensor& rows, const Tensor& cols,
                               bool overlapping) {
  const Variable x = as_f32(ctx, x_in);
  Tensor xc = x.data().contiguous();  // (N,C,H,W)
  CHECK(xc.dim() == 4 && xc.dtype() == DType::f32, "fractional_max_pool2d: expects an f32 (N,C,H,W) input, got ",
        xc.describe());
  const int64_t N = xc.size(0), C = xc.size(1), H = xc.size(2), W = xc.size(3);
  CHECK(rows.dim() == 2 && cols.dim() == 2 && rows.dtype() == DType::i32 && cols.dtype() == DType::i32 &&
            rows.size(0) == N && cols.size(0) == N && rows.size(1) >= 2 && cols.size(1) >= 2,
        "fractional_max_pool2d: region starts ", rows.describe(), " and ", cols.describe(), " do not fit input ",
        xc.describe());
  Tensor rc = rows.contiguous(), cc = cols.contiguous();
  const FractionalPool2dShape s{N, C, H, W, rc.size(1) - 1, cc.size(1) - 1, overlapping ? 1 : 0};
  // every region inside the plane and non-empty: a_0 >= 0, increasing, last region ends by H (W)
  auto check_starts = [&](const int32_t* a, int64_t out, int64_t in, const char* axis) {
    for (int64_t n = 0; n < N; ++n) {
      const int32_t* an = a + n * (out + 1);
      bool ok = an[0] >= 0 && an[out] + s.overlap <= in;
      for (int64_t i = 0; i < out && ok; ++i) ok = an[i + 1] > an[i];
      CHECK(ok, "fractional_max_pool2d: ", axis, " region starts of sample ", n, " do not lie in [0, ", in, "]");
    }
  };
  check_starts(rc.data<int32_t>(), s.OH, H, "row");
  check_starts(cc.data<int32_t>(), s.OW, W, "column");
  Tensor y = Tensor::empty({N, C, s.OH, s.OW});
  Tensor argmax = Tensor::empty(y.shape(), DType::i32);
  cpu::fractional_max_pool2d_forward(xc.data<float>(), rc.data<int32_t>(), cc.data<int32_t>(), y.data<float>(),
                                     argmax.data<int32_t>(), s);
  // backward needs only where each maximum was: dx[argmax] += dy
  return record(ctx, "fractional_max_pool2d", y, {x}, [argmax, s](const Tensor& dy) -> Grads {
    Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W});
    cpu::fractional_max_pool2d_backward(dyc.data<float>(), argmax.data<int32_t>(), dx.data<float>(), s);
    return {dx};
  });
}

}  // namespace cvtrain::ops
