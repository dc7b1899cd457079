// Evaluation with test-time augmentation: each test image's views (data/tta.h) go through the
// model, and the softmax probabilities are averaged (the multi-crop averaging of Krizhevsky et al.
// 2012). Loss is the negative log of the averaged probability of the true class.
#include <chrono>
#include <cmath>

#include "cvtrain/cli/commands.h"
#include "cvtrain/data/tta.h"
#include "cvtrain/ops/loss.h"

namespace cvtrain::cli {

EvalResult evaluate_tta(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                        const Preprocess& fitted, int64_t batch_size, const std::string& mode, int64_t pad) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t V = tta_view_count(mode);
  const int64_t N = data.size(), C = data.images.size(1), H = data.images.size(2), W = data.images.size(3);
  const int64_t D = C * H * W;
  model.eval();
  NoGradGuard no_grad(ctx);
  EvalResult r;
  double nll = 0;
  int64_t correct = 0;
  const uint8_t* src = data.images.data<uint8_t>();
  const int64_t* labels = data.labels.data<int64_t>();
  for (int64_t i0 = 0; i0 < N; i0 += batch_size) {
    const int64_t B = std::min(batch_size, N - i0);
    // x[v]: (B,C,H,W) normalized view v of the batch
    std::vector<std::vector<float>> x(static_cast<size_t>(V), std::vector<float>(static_cast<size_t>(B * D)));
#pragma omp parallel for
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<Image> views = tta_views(from_u8(src + (i0 + b) * D, C, H, W), mode, pad);
      for (int64_t v = 0; v < V; ++v)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < H * W; ++k) {
            const float p = views[v].data[c * H * W + k];
            x[v][b * D + c * H * W + k] = fitted.is_channel() ? (p - norm.mean[c]) / norm.std[c] : p;
          }
    }
    std::vector<double> prob;
    int64_t K = 0;
    for (int64_t v = 0; v < V; ++v) {
      Shape s{B};
      for (int64_t d : fitted.is_channel() ? Shape{C, H, W} : fitted.out_shape()) s.push_back(d);
      Tensor t = Tensor::empty(s, DType::f32);
      if (fitted.is_channel()) std::copy(x[v].begin(), x[v].end(), t.data<float>());
      else apply_preprocess(fitted, x[v].data(), B, t.data<float>());
      const Tensor p = ops::softmax(ctx, model.forward(ctx, Variable(t))).data().contiguous();
      K = p.size(1);
      if (prob.empty()) prob.assign(static_cast<size_t>(B * K), 0.0);
      for (int64_t k = 0; k < B * K; ++k) prob[k] += p.data<float>()[k] / static_cast<double>(V);
    }
    for (int64_t b = 0; b < B; ++b) {
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k)
        if (prob[b * K + k] > prob[b * K + best]) best = k;
      correct += best == labels[i0 + b];
      nll -= std::log(std::max(prob[b * K + labels[i0 + b]], 1e-30));
    }
  }
  r.images = N;
  r.loss = N ? nll / static_cast<double>(N) : 0.0;
  r.accuracy = N ? static_cast<double>(correct) / static_cast<double>(N) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

int64_t tta_padding(const RunConfig& cfg) {
  for (const AugmentSpec& s : cfg.data_augment)
    if (s.name == "crop") {
      auto it = s.params.find("padding");
      return it == s.params.end() ? 4 : std::stoll(it->second);  // 4: crop's default padding
    }
  return 2;
}

}  // namespace cvtrain::cli
