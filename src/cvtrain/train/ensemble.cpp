// Ensemble predictions: the TTA views of a batch through one model, averaged; members averaged
// value by value; snapshot files at cycle ends.
#include "cvtrain/train/ensemble.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cvtrain/base/error.h"
#include "cvtrain/data/tta.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/train/model_file.h"

namespace cvtrain {

Predictions predict(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                    const Preprocess& fitted, int64_t batch_size, const std::string& tta, int64_t pad, bool logits,
                    const PassProgress& progress) {
  const int64_t V = tta_view_count(tta);
  const int64_t N = data.size(), C = data.images.size(1), H = data.images.size(2), W = data.images.size(3);
  const int64_t D = C * H * W;
  model.eval();
  NoGradGuard no_grad(ctx);
  Predictions out;
  out.n = N;
  out.logits = logits;
  const uint8_t* src = data.images.data<uint8_t>();
  Shape view_shape = fitted.is_channel() ? Shape{C, H, W} : fitted.out_shape();
  for (int64_t i0 = 0; i0 < N; i0 += batch_size) {
    const int64_t B = std::min(batch_size, N - i0);
    std::vector<std::vector<float>> x(static_cast<size_t>(V), std::vector<float>(static_cast<size_t>(B * D)));  // x[v]: (B,C,H,W)
#pragma omp parallel for
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<Image> views = tta_views(from_u8(src + (i0 + b) * D, C, H, W), tta, pad);
      for (int64_t v = 0; v < V; ++v)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t j = 0; j < H * W; ++j) {
            const float p = views[v].data[c * H * W + j];
            x[v][b * D + c * H * W + j] = fitted.is_channel() ? (p - norm.mean[c]) / norm.std[c] : p;
          }
    }
    for (int64_t v = 0; v < V; ++v) {
      Shape s{B};
      s.insert(s.end(), view_shape.begin(), view_shape.end());
      Tensor t = Tensor::empty(s, DType::f32);
      if (fitted.is_channel()) std::copy(x[v].begin(), x[v].end(), t.data<float>());
      else apply_preprocess(fitted, x[v].data(), B, t.data<float>());
      Variable y = model.forward(ctx, Variable(t));
      if (!logits) y = ops::softmax(ctx, y);
      const Tensor p = y.data().contiguous();  // (B,K)
      if (out.k == 0) {
        out.k = p.size(1);
        out.values.assign(static_cast<size_t>(N * out.k), 0.0f);
      }
      CHECK(p.size(1) == out.k, "predict: ", p.size(1), " outputs after ", out.k);
      float* dst = out.values.data() + i0 * out.k;
      for (int64_t j = 0; j < B * out.k; ++j) dst[j] += p.data<float>()[j] / static_cast<float>(V);
    }
    if (progress) progress(i0 + B, N);
  }
  return out;
}

Predictions average(const std::vector<Predictions>& members) {
  CHECK(!members.empty(), "average: no members");
  Predictions out = members.front();
  for (size_t m = 1; m < members.size(); ++m) {
    const Predictions& p = members[m];
    if (p.n != out.n || p.k != out.k || p.logits != out.logits)
      fail_input("ensemble: member ", m + 1, " predicts (", p.n, " images, ", p.k, " classes), member 1 (", out.n,
                 ", ", out.k, "): the members must share the test set and the classes");
    for (size_t j = 0; j < out.values.size(); ++j) out.values[j] += p.values[j];
  }
  for (float& v : out.values) v /= static_cast<float>(members.size());
  return out;
}

Score score(const Predictions& p, const Tensor& labels) {
  CHECK(labels.size(0) == p.n, "score: ", labels.size(0), " labels for ", p.n, " predictions");
  const int64_t* y = labels.data<int64_t>();
  Score s;
  int64_t correct = 0;
  double nll = 0;
  for (int64_t i = 0; i < p.n; ++i) {
    const float* row = p.values.data() + i * p.k;
    int64_t best = 0;
    for (int64_t j = 1; j < p.k; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == y[i];
    if (p.logits) {  // log-sum-exp, shifted by the maximum
      double sum = 0;
      for (int64_t j = 0; j < p.k; ++j) sum += std::exp(static_cast<double>(row[j]) - row[best]);
      nll -= static_cast<double>(row[y[i]]) - row[best] - std::log(sum);
    } else {
      nll -= std::log(std::max(static_cast<double>(row[y[i]]), 1e-30));
    }
  }
  s.accuracy = p.n ? static_cast<double>(correct) / static_cast<double>(p.n) : 0.0;
  s.nll = p.n ? nll / static_cast<double>(p.n) : 0.0;
  return s;
}

bool is_cycle_end(const RunConfig& cfg, int64_t epoch) {
  if (epoch == cfg.train.epochs) return true;
  if (cfg.schedule.name != "sgdr") return false;
  // SGDR (Loshchilov & Hutter 2017): cycle i lasts T_0 * T_mult^i epochs.
  int64_t end = 0, len = std::max<int64_t>(cfg.schedule.restart_period, 1);
  while (end < epoch) {
    end += len;
    len *= std::max<int64_t>(cfg.schedule.restart_mult, 1);
  }
  return end == epoch;
}

void save_snapshot(const std::string& run_dir, int64_t epoch, nn::Module& model,
                   const std::map<std::string, std::string>& metadata) {
  const std::filesystem::path dir = std::filesystem::path(run_dir) / "snapshots";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail_input(dir.string(), ": cannot create the snapshot folder: ", ec.message());
  char name[64];
  std::snprintf(name, sizeof name, "epoch-%04lld.safetensors", static_cast<long long>(epoch));
  auto meta = metadata;
  meta["snapshot_epoch"] = std::to_string(epoch);
  save_model_file((dir / name).string(), model, meta);
}

std::vector<std::string> list_snapshots(const std::string& run_dir) {
  std::vector<std::string> out;
  const std::filesystem::path dir = std::filesystem::path(run_dir) / "snapshots";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("epoch-", 0) == 0 && e.path().extension() == ".safetensors") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cvtrain
