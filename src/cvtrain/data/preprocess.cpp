// Fitted preprocessing: mean image, covariance, symmetric eigen-decomposition (EISPACK's tred2 and
// tql2 as in JAMA, public domain), the projection matrices, their application to batches, and their
// JSON form for the model file.
#include "cvtrain/data/preprocess.h"

#include <cstdio>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"

namespace cvtrain {

const std::vector<std::string>& preprocess_modes() {
  static const std::vector<std::string> modes = {"channel", "mean_image", "pca", "pca_whiten", "zca"};
  return modes;
}

int64_t Preprocess::kept() const { return components > 0 ? components : in_dim(); }

int64_t Preprocess::out_dim() const {
  if (mode == "pca" || mode == "pca_whiten") return kept();
  return in_dim();
}

Shape Preprocess::out_shape() const {
  if (mode == "pca" || mode == "pca_whiten") return {out_dim(), 1, 1};
  return {C, H, W};
}

std::vector<double> covariance(const float* x, int64_t N, int64_t D, std::vector<double>* mean_out) {
  CHECK(N > 0 && D > 0, "covariance: N=", N, " D=", D);
  std::vector<double> mean(static_cast<size_t>(D), 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) mean[d] += x[i * D + d];
  for (double& m : mean) m /= static_cast<double>(N);
  std::vector<double> cov(static_cast<size_t>(D * D), 0.0);
  // Blocks of rows, centered and transposed to (D, kBlock) so each (d, e) entry is a contiguous dot.
  constexpr int64_t kBlock = 256;
  std::vector<double> xt(static_cast<size_t>(D * kBlock));
  for (int64_t i0 = 0; i0 < N; i0 += kBlock) {
    const int64_t nb = std::min(kBlock, N - i0);
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t d = 0; d < D; ++d) xt[d * kBlock + i] = x[(i0 + i) * D + d] - mean[d];
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t d = 0; d < D; ++d) {
      const double* a = xt.data() + d * kBlock;
      for (int64_t e = d; e < D; ++e) {
        const double* b = xt.data() + e * kBlock;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t i = 0;
        for (; i + 4 <= nb; i += 4) s0 += a[i] * b[i], s1 += a[i + 1] * b[i + 1], s2 += a[i + 2] * b[i + 2], s3 += a[i + 3] * b[i + 3];
        for (; i < nb; ++i) s0 += a[i] * b[i];
        cov[d * D + e] += (s0 + s1) + (s2 + s3);
      }
    }
  }
  for (int64_t d = 0; d < D; ++d)
    for (int64_t e = d; e < D; ++e) cov[e * D + d] = cov[d * D + e] /= static_cast<double>(N);
  if (mean_out) *mean_out = mean;
  return cov;
}

void symmetric_eigen(const std::vector<double>& a, int64_t n, std::vector<double>& val, std::vector<double>& vec) {
  // JAMA's EigenvalueDecomposition for symmetric matrices: tred2 then tql2.
  std::vector<double> V = a, d(static_cast<size_t>(n)), e(static_cast<size_t>(n));
  auto v = [&](int64_t i, int64_t j) -> double& { return V[i * n + j]; };
  for (int64_t j = 0; j < n; ++j) d[j] = v(n - 1, j);
  for (int64_t i = n - 1; i > 0; --i) {
    double scale = 0, h = 0;
    for (int64_t k = 0; k < i; ++k) scale += std::abs(d[k]);
    if (scale == 0) {
      e[i] = d[i - 1];
      for (int64_t j = 0; j < i; ++j) d[j] = v(i - 1, j), v(i, j) = 0, v(j, i) = 0;
    } else {
      for (int64_t k = 0; k < i; ++k) d[k] /= scale, h += d[k] * d[k];
      double f = d[i - 1], g = std::sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (int64_t j = 0; j < i; ++j) e[j] = 0;
      for (int64_t j = 0; j < i; ++j) {
        f = d[j];
        v(j, i) = f;
        g = e[j] + v(j, j) * f;
        for (int64_t k = j + 1; k <= i - 1; ++k) g += v(k, j) * d[k], e[k] += v(k, j) * f;
        e[j] = g;
      }
      f = 0;
      for (int64_t j = 0; j < i; ++j) e[j] /= h, f += e[j] * d[j];
      const double hh = f / (h + h);
      for (int64_t j = 0; j < i; ++j) e[j] -= hh * d[j];
      for (int64_t j = 0; j < i; ++j) {
        f = d[j], g = e[j];
        for (int64_t k = j; k <= i - 1; ++k) v(k, j) -= (f * e[k] + g * d[k]);
        d[j] = v(i - 1, j);
        v(i, j) = 0;
      }
    }
    d[i] = h;
  }
  for (int64_t i = 0; i < n - 1; ++i) {
    v(n - 1, i) = v(i, i);
    v(i, i) = 1.0;
    const double h = d[i + 1];
    if (h != 0) {
      for (int64_t k = 0; k <= i; ++k) d[k] = v(k, i + 1) / h;
      for (int64_t j = 0; j <= i; ++j) {
        double g = 0;
        for (int64_t k = 0; k <= i; ++k) g += v(k, i + 1) * v(k, j);
        for (int64_t k = 0; k <= i; ++k) v(k, j) -= g * d[k];
      }
    }
    for (int64_t k = 0; k <= i; ++k) v(k, i + 1) = 0;
  }
  for (int64_t j = 0; j < n; ++j) d[j] = v(n - 1, j), v(n - 1, j) = 0;
  v(n - 1, n - 1) = 1.0;
  e[0] = 0;
  // tql2
  for (int64_t i = 1; i < n; ++i) e[i - 1] = e[i];
  e[n - 1] = 0;
  double f = 0, tst1 = 0;
  const double eps = std::pow(2.0, -52.0);
  for (int64_t l = 0; l < n; ++l) {
    tst1 = std::max(tst1, std::abs(d[l]) + std::abs(e[l]));
    int64_t m = l;
    while (m < n - 1 && std::abs(e[m]) > eps * tst1) ++m;
    if (m > l) {
      do {
        double g = d[l];
        double p = (d[l + 1] - g) / (2.0 * e[l]);
        double r = std::hypot(p, 1.0);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const double dl1 = d[l + 1];
        double h = g - d[l];
        for (int64_t i = l + 2; i < n; ++i) d[i] -= h;
        f += h;
        p = d[m];
        double c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const double el1 = e[l + 1];
        for (int64_t i = m - 1; i >= l; --i) {
          c3 = c2, c2 = c, s2 = s;
          g = c * e[i], h = c * p;
          r = std::hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r, c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (int64_t k = 0; k < n; ++k) {
            h = v(k, i + 1);
            v(k, i + 1) = s * v(k, i) + c * h;
            v(k, i) = c * v(k, i) - s * h;
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p, d[l] = c * p;
      } while (std::abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return d[x] > d[y]; });
  val.resize(static_cast<size_t>(n));
  vec.resize(static_cast<size_t>(n * n));
  for (int64_t k = 0; k < n; ++k) {
    val[k] = d[order[k]];
    // Sign convention: the largest-magnitude component of each eigenvector is positive.
    double big = 0;
    for (int64_t r = 0; r < n; ++r)
      if (std::abs(v(r, order[k])) > std::abs(big)) big = v(r, order[k]);
    for (int64_t r = 0; r < n; ++r) vec[r * n + k] = v(r, order[k]) * (big < 0 ? -1.0 : 1.0);
  }
}

Preprocess fit_preprocess(const Dataset& train, const std::string& mode, int64_t components, double epsilon) {
  if (std::find(preprocess_modes().begin(), preprocess_modes().end(), mode) == preprocess_modes().end())
    fail_input("data.preprocess: unknown mode '", mode, "'");
  const Tensor& images = train.images;
  CHECK(images.defined() && images.dim() == 4 && images.dtype() == DType::u8 && images.is_contiguous(),
        "fit_preprocess: images must be contiguous (N,C,H,W) u8");
  Preprocess p;
  p.mode = mode, p.epsilon = epsilon;
  p.C = images.size(1), p.H = images.size(2), p.W = images.size(3);
  const int64_t N = images.size(0), D = p.in_dim();
  if (N < 2) fail_input("data.preprocess: ", mode, " needs at least 2 training images");
  if (components < 0 || components > D)
    fail_input("data.preprocess_components: ", components, " is outside [0, ", D, "] (D = C*H*W of the images)");
  p.components = components;
  if (mode == "channel") return p;
  std::vector<float> x(static_cast<size_t>(N * D));
  const uint8_t* src = images.data<uint8_t>();
  for (int64_t k = 0; k < N * D; ++k) x[k] = static_cast<float>(src[k]) / 255.0f;
  if (mode == "mean_image") {
    std::vector<double> mean(static_cast<size_t>(D), 0.0);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t d = 0; d < D; ++d) mean[d] += x[i * D + d];
    for (double& m : mean) p.mean.push_back(static_cast<float>(m / static_cast<double>(N)));
    const Normalization norm = fit_normalization(train);
    for (float s : norm.std) p.scale.push_back(1.0f / s);
    return p;
  }
  std::vector<double> mean;
  const std::vector<double> cov = covariance(x.data(), N, D, &mean);
  std::vector<double> vec;
  symmetric_eigen(cov, D, p.eigval, vec);
  for (double m : mean) p.mean.push_back(static_cast<float>(m));
  const int64_t K = p.out_dim();
  p.matrix.assign(static_cast<size_t>(K * D), 0.0f);
  if (mode == "zca") {  // U_K diag(1/sqrt(l + eps)) U_K^T: the other directions are projected out
    std::vector<double> m(static_cast<size_t>(D * D), 0.0);
    for (int64_t k = 0; k < p.kept(); ++k) {
      const double w = 1.0 / std::sqrt(std::max(0.0, p.eigval[k]) + epsilon);
#pragma omp parallel for
      for (int64_t r = 0; r < D; ++r) {
        const double a = vec[r * D + k] * w;
        for (int64_t c = 0; c < D; ++c) m[r * D + c] += a * vec[c * D + k];
      }
    }
    for (int64_t k = 0; k < D * D; ++k) p.matrix[k] = static_cast<float>(m[k]);
  } else {  // rows: U_k^T, scaled by 1/sqrt(l_k + eps) when whitening
    for (int64_t k = 0; k < K; ++k) {
      const double w = mode == "pca_whiten" ? 1.0 / std::sqrt(std::max(0.0, p.eigval[k]) + epsilon) : 1.0;
      for (int64_t d = 0; d < D; ++d) p.matrix[k * D + d] = static_cast<float>(vec[d * D + k] * w);
    }
  }
  return p;
}

std::string whitening_warning(const Preprocess& p, int64_t n_train) {
  if (p.mode != "pca_whiten" && p.mode != "zca") return "";
  const int64_t K = p.kept();
  if (n_train >= 10 * K || static_cast<int64_t>(p.eigval.size()) < K) return "";
  const double top = std::max(0.0, p.eigval[0]) + p.epsilon, low = std::max(0.0, p.eigval[K - 1]) + p.epsilon;
  char gain[32];
  std::snprintf(gain, sizeof gain, "%.0f", std::sqrt(top / low));
  return "data.preprocess: " + p.mode + " whitens " + std::to_string(K) + " components from " +
         std::to_string(n_train) +
         " training images (fewer than 10 per component): the low-variance ones are mostly noise, amplified up to " +
         gain + "x more than the leading one, and test accuracy can collapse (docs/data.md); keep fewer components " +
         "(data.preprocess_components) or use more images";
}

void apply_preprocess(const Preprocess& p, const float* x, int64_t B, float* out) {
  const int64_t D = p.in_dim(), K = p.out_dim(), HW = p.H * p.W;
  CHECK(!p.is_channel() && static_cast<int64_t>(p.mean.size()) == D, "apply_preprocess: mode ", p.mode, " not fitted");
#pragma omp parallel
  {
    std::vector<float> centered(static_cast<size_t>(D));
#pragma omp for
    for (int64_t b = 0; b < B; ++b) {
      const float* xb = x + b * D;
      float* ob = out + b * K;
      if (p.mode == "mean_image") {
        for (int64_t d = 0; d < D; ++d) ob[d] = (xb[d] - p.mean[d]) * p.scale[d / HW];
        continue;
      }
      for (int64_t d = 0; d < D; ++d) centered[d] = xb[d] - p.mean[d];
      for (int64_t k = 0; k < K; ++k) {
        const float* row = p.matrix.data() + k * D;
        float s = 0;
        for (int64_t d = 0; d < D; ++d) s += row[d] * centered[d];
        ob[k] = s;
      }
    }
  }
}

namespace {

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64_floats(const std::vector<float>& v) {
  std::string bytes(v.size() * 4, '\0');
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());  // NOTE: little-endian hosts only (x86, arm64); v.data() may be null when empty (UBSan)
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kB64[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kB64[n & 63] : '=';
  }
  return out;
}

std::vector<float> floats_b64(const std::string& s, const std::string& origin) {
  std::string bytes;
  uint32_t buf = 0;
  int bits = 0;
  for (char ch : s) {
    if (ch == '=') break;
    const char* p = std::strchr(kB64, ch);
    if (!p || ch == '\0') fail_input(origin, ": preprocess_fit: bad base64 data");
    buf = (buf << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) bits -= 8, bytes += static_cast<char>((buf >> bits) & 0xff);
  }
  if (bytes.size() % 4 != 0) fail_input(origin, ": preprocess_fit: float data of ", bytes.size(), " bytes");
  std::vector<float> v(bytes.size() / 4);
  if (!bytes.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());  // NOTE: memcpy(nullptr, ..., 0) is UB (fuzz_model_file)
  return v;
}

}  // namespace

std::string preprocess_to_json(const Preprocess& p) {
  nlohmann::json j = {{"mode", p.mode}, {"components", p.components}, {"epsilon", p.epsilon},
                      {"shape", {p.C, p.H, p.W}}, {"mean", b64_floats(p.mean)}, {"scale", b64_floats(p.scale)},
                      {"matrix", b64_floats(p.matrix)}};
  return j.dump();
}

Preprocess preprocess_from_json(const std::string& text, const std::string& origin) {
  Preprocess p;
  try {
    const auto j = nlohmann::json::parse(text);
    p.mode = j.at("mode").get<std::string>();
    p.components = j.at("components").get<int64_t>();
    p.epsilon = j.at("epsilon").get<double>();
    const auto shape = j.at("shape").get<std::vector<int64_t>>();
    if (shape.size() != 3) fail_input(origin, ": preprocess_fit: shape needs 3 numbers");
    p.C = shape[0], p.H = shape[1], p.W = shape[2];
    // Bounded before in_dim() multiplies them (int64 overflow: fuzz_model_file).
    for (int64_t d : shape)
      if (d < 1 || d > 65536) fail_input(origin, ": preprocess_fit: shape dimension ", d, " is outside [1, 65536]");
    if (p.C * p.H * p.W > (int64_t{1} << 31)) fail_input(origin, ": preprocess_fit: shape ", p.C, "x", p.H, "x", p.W, " is too large");
    if (p.components < 0 || p.components > p.C * p.H * p.W)
      fail_input(origin, ": preprocess_fit: components ", p.components, " is outside [0, C*H*W]");
    p.mean = floats_b64(j.at("mean").get<std::string>(), origin);
    p.scale = floats_b64(j.at("scale").get<std::string>(), origin);
    p.matrix = floats_b64(j.at("matrix").get<std::string>(), origin);
  } catch (const nlohmann::json::exception& e) {
    fail_input(origin, ": preprocess_fit: ", e.what());
  }
  if (std::find(preprocess_modes().begin(), preprocess_modes().end(), p.mode) == preprocess_modes().end())
    fail_input(origin, ": preprocess_fit: unknown mode '", p.mode, "'");
  const int64_t D = p.in_dim();
  const bool ok = p.is_channel() ||
                  (static_cast<int64_t>(p.mean.size()) == D &&
                   (p.mode == "mean_image" ? static_cast<int64_t>(p.scale.size()) == p.C
                                           : static_cast<int64_t>(p.matrix.size()) == p.out_dim() * D));
  if (!ok) fail_input(origin, ": preprocess_fit: array sizes do not match mode ", p.mode, " and shape ", p.C, "x", p.H, "x", p.W);
  return p;
}

}  // namespace cvtrain
