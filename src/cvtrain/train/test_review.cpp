// The model over the test set in order (the evaluation loader, no shuffling): softmax per image,
// one confusion-matrix count per image, and the wrong answers kept sorted by confidence.
#include "cvtrain/train/test_review.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cvtrain/base/error.h"
#include "cvtrain/data/loader.h"

namespace cvtrain {
namespace {

// The predicted class of one row of logits and its softmax probability.
std::pair<int64_t, double> top_class(const float* z, int64_t K) {
  const int64_t best = std::max_element(z, z + K) - z;
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(z[k]) - z[best]);
  return {best, 1.0 / sum};
}

U8Image image_at(const Dataset& d, int64_t i) {
  const int64_t C = d.images.size(1), H = d.images.size(2), W = d.images.size(3);
  U8Image img{C, H, W, {}};
  const uint8_t* src = d.images.data<uint8_t>() + i * C * H * W;
  img.data.assign(src, src + C * H * W);
  return img;
}

}  // namespace

TestReview review_test_set(Context& ctx, nn::Module& model, const Dataset& test, const Normalization& norm,
                           int64_t batch_size, const Preprocess* preprocess, int64_t max_mistakes) {
  CHECK(test.images.dim() == 4, "review_test_set: images must be (N,C,H,W), got ", test.images.dim(), " dims");
  NoGradGuard no_grad(ctx);
  model.eval();
  BatchLoader loader(test, norm, batch_size, /*shuffle=*/false);
  if (preprocess) loader.set_preprocess(*preprocess);
  loader.start_epoch(ctx.rng);
  TestReview r;
  int64_t K = 0;
  Batch batch;
  while (loader.next(batch)) {
    Tensor x = ctx.cuda ? batch.x.to_cuda(ctx.cuda) : batch.x;
    const Tensor z = model.forward(ctx, Variable(x)).data().to_cpu().contiguous();  // (B,K)
    if (K == 0) K = z.size(1), r.confusion.assign(static_cast<size_t>(K * K), 0);
    const int64_t* y = batch.y.data<int64_t>();
    for (int64_t b = 0; b < z.size(0); ++b, ++r.images) {
      const auto [pred, p] = top_class(z.data<float>() + b * K, K);
      const int64_t truth = y[b];
      if (truth < 0 || truth >= K) continue;  // a label the model has no output for: not counted
      ++r.confusion[static_cast<size_t>(truth * K + pred)];
      if (pred == truth) ++r.correct;
      else r.mistakes.push_back({r.images, truth, pred, p, {}});
    }
  }
  std::stable_sort(r.mistakes.begin(), r.mistakes.end(),
                   [](const Mistake& a, const Mistake& b) { return a.confidence > b.confidence; });
  if (static_cast<int64_t>(r.mistakes.size()) > max_mistakes) r.mistakes.resize(static_cast<size_t>(max_mistakes));
  for (Mistake& m : r.mistakes) m.image = image_at(test, m.index);
  for (int64_t k = 0; k < K; ++k)
    r.class_names.push_back(k < static_cast<int64_t>(test.class_names.size()) ? test.class_names[static_cast<size_t>(k)]
                                                                                : "class_" + std::to_string(k));
  return r;
}

}  // namespace cvtrain
