// Evaluation with test-time augmentation: each test image's views (data/tta.h) go through the
// model, and the softmax probabilities are averaged (the multi-crop averaging of Krizhevsky et al.
// 2012). Loss is the negative log of the averaged probability of the true class.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "cvtrain/cli/commands.h"
#include "cvtrain/train/ensemble.h"

namespace cvtrain::cli {

EvalResult evaluate_tta(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                        const Preprocess& fitted, int64_t batch_size, const std::string& mode, int64_t pad,
                        const PassProgress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  // probabilities averaged over the views (train/ensemble.h), then the loss and accuracy of the mean
  const Predictions p = predict(ctx, model, data, norm, fitted, batch_size, mode, pad, /*logits=*/false, progress);
  const int64_t N = p.n, K = p.k;
  const int64_t* labels = data.labels.data<int64_t>();
  double nll = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < N; ++i) {
    const float* prob = p.values.data() + i * K;
    correct += std::max_element(prob, prob + K) - prob == labels[i];
    nll -= std::log(std::max(static_cast<double>(prob[labels[i]]), 1e-30));
  }
  EvalResult r;
  r.images = N;
  r.loss = N ? nll / static_cast<double>(N) : 0.0;
  r.accuracy = N ? static_cast<double>(correct) / static_cast<double>(N) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

int64_t tta_padding(const RunConfig& cfg) {
  for (const AugmentSpec& s : cfg.data.augment)
    if (s.name == "crop") {
      auto it = s.params.find("padding");
      return it == s.params.end() ? 4 : std::stoll(it->second);  // 4: crop's default padding
    }
  return 2;
}

}  // namespace cvtrain::cli
