// The fractional max pooling layer: draws the region sequences, calls ops::fractional_max_pool2d.
#include "cvtrain/nn/fractional_pool.h"

#include <vector>

#include "cvtrain/ops/elementwise.h"

namespace cvtrain::nn {

namespace {
// The key of the evaluation samplings: fixed, so evaluation never touches the run's RNG.
constexpr uint64_t kEvalKey = 0x464d505f4556414cull;  // "FMP_EVAL"
}  // namespace

FractionalMaxPool2d::FractionalMaxPool2d(const FmpOptions& opt, int64_t layer_index)
    : Module("FractionalMaxPool2d"), opt_(opt), layer_index_(layer_index) {
  CHECK(opt.ratio > 1.0 && opt.ratio < 2.0, "FractionalMaxPool2d: ratio ", opt.ratio, " must be in (1, 2)");
}

Variable FractionalMaxPool2d::forward(Context& ctx, const Variable& x) {
  CHECK(x.data().dim() == 4, "FractionalMaxPool2d: expects (N,C,H,W), got ", x.data().describe());
  const int64_t N = x.data().size(0), H = x.data().size(2), W = x.data().size(3);
  const int64_t OH = out_size(H), OW = out_size(W);
  Tensor rows = Tensor::empty({N, OH + 1}, DType::i32), cols = Tensor::empty({N, OW + 1}, DType::i32);
  // Counters: sequence d (image n in training, 0 at evaluation) uses [2 d 2^16, (2 d + 2) 2^16): rows, then cols.
  const bool train = training();
  const uint64_t key = train ? ctx.rng.seed() : kEvalKey;
  const uint64_t stream = train ? ctx.rng.next_stream()
                                : (static_cast<uint64_t>(layer_index_) << 32) + static_cast<uint64_t>(eval_sample);
  for (int64_t n = 0; n < N; ++n) {
    const uint64_t d = train ? static_cast<uint64_t>(n) : 0;
    int32_t* a = rows.data<int32_t>() + n * (OH + 1);
    int32_t* b = cols.data<int32_t>() + n * (OW + 1);
    if (!train && n > 0) {  // one sequence for every image
      std::copy(rows.data<int32_t>(), rows.data<int32_t>() + OH + 1, a);
      std::copy(cols.data<int32_t>(), cols.data<int32_t>() + OW + 1, b);
      continue;
    }
    ops::fmp_sequence(a, H, OH, opt_.overlapping, opt_.sequence, key, stream, (2 * d) << 16);
    ops::fmp_sequence(b, W, OW, opt_.overlapping, opt_.sequence, key, stream, (2 * d + 1) << 16);
  }
  return ops::fractional_max_pool2d(ctx, x, rows, cols, opt_.overlapping);
}

std::string FractionalMaxPool2d::describe() const {
  return detail::concat("FractionalMaxPool2d(ratio=", opt_.ratio, ", overlapping=", opt_.overlapping ? "True" : "False",
                        ", sequence=", ops::fmp_sequence_name(opt_.sequence), ")");
}

namespace {
void collect_fmp(Module& m, std::vector<FractionalMaxPool2d*>& out) {
  if (auto* f = dynamic_cast<FractionalMaxPool2d*>(&m)) out.push_back(f);
  for (const auto& [name, child] : m.children()) collect_fmp(*child, out);
}
}  // namespace

Variable average_over_samplings(Context& ctx, Module& net, const Variable& x, int64_t samples) {
  std::vector<FractionalMaxPool2d*> layers;
  if (!net.training() && samples > 1) collect_fmp(net, layers);
  if (layers.empty()) return net.forward(ctx, x);
  Variable sum;
  for (int64_t k = 0; k < samples; ++k) {
    for (FractionalMaxPool2d* f : layers) f->eval_sample = k;
    Variable y = net.forward(ctx, x);
    sum = k == 0 ? y : ops::add(ctx, sum, y);
  }
  for (FractionalMaxPool2d* f : layers) f->eval_sample = 0;
  return ops::mul_scalar(ctx, sum, 1.0f / static_cast<float>(samples));
}

}  // namespace cvtrain::nn
