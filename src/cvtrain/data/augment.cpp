// The augmentation registry (one table, below), parameter parsing and validation, the per-sample
// Philox stream, PCA color statistics and batch mixing. Random parameters are drawn here the way
// torchvision's transforms draw them; the pixel work is in transforms.cpp.
#include "cvtrain/data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <sstream>

#include "cvtrain/base/error.h"
#include "cvtrain/base/philox.h"

namespace cvtrain {

// ---------------------------------------------------------------------------------------------
// SampleRng

SampleRng::SampleRng(uint64_t seed, uint64_t epoch, uint64_t index, uint64_t domain)
    : key_(seed ^ (domain * 0x9E3779B97F4A7C15ull)), hi_((uint64_t{1} << 63) | (epoch << 40) | index) {
  CHECK(index < (uint64_t{1} << 40) && epoch < (uint64_t{1} << 23), "SampleRng: epoch ", epoch, " or index ", index,
        " out of range");
}

uint32_t SampleRng::next_u32() {
  if (lane_ == 4) {
    const auto r = philox4x32(key_, hi_, block_++);
    std::copy(r.begin(), r.end(), buf_);
    lane_ = 0;
  }
  return buf_[lane_++];
}

int64_t SampleRng::below(int64_t n) {
  CHECK(n > 0, "SampleRng::below(", n, ")");
  return static_cast<int64_t>((static_cast<uint64_t>(next_u32()) * static_cast<uint64_t>(n)) >> 32);
}

float SampleRng::normal() {
  const double u1 = (static_cast<double>(next_u32()) + 1.0) / 4294967296.0;  // (0, 1]
  const double u2 = static_cast<double>(next_u32()) / 4294967296.0;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

double SampleRng::gamma(double shape) {
  if (shape < 1.0) {  // Gamma(a) = Gamma(a + 1) * U^(1/a)
    const double u = (static_cast<double>(next_u32()) + 1.0) / 4294967296.0;
    return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = normal(), v0 = 1.0 + c * x;
    if (v0 <= 0) continue;
    const double v = v0 * v0 * v0, u = (static_cast<double>(next_u32()) + 1.0) / 4294967296.0;
    if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double SampleRng::beta(double a, double b) {
  const double x = gamma(a), y = gamma(b);
  return x / (x + y);
}

// ---------------------------------------------------------------------------------------------
// PCA color statistics

namespace {

// Cyclic Jacobi rotations on a symmetric (n,n) matrix; returns eigenvalues, vectors as columns.
void jacobi_eigen(std::vector<double> a, int n, std::vector<double>& val, std::vector<double>& vec) {
  vec.assign(static_cast<size_t>(n * n), 0.0);
  for (int i = 0; i < n; ++i) vec[i * n + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) off += a[p * n + q] * a[p * n + q];
    if (off < 1e-30) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (std::abs(a[p * n + q]) < 1e-300) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * a[p * n + q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < n; ++k) {  // A <- A J
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq, a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // A <- J^T A
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk, a[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {
          const double vkp = vec[k * n + p], vkq = vec[k * n + q];
          vec[k * n + p] = c * vkp - s * vkq, vec[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  val.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) val[i] = a[i * n + i];
}

}  // namespace

ColorPCA fit_color_pca(const Tensor& images) {
  CHECK(images.defined() && images.dim() == 4 && images.dtype() == DType::u8 && images.is_contiguous(),
        "fit_color_pca: images must be contiguous (N,C,H,W) u8");
  const int64_t N = images.size(0), C = images.size(1), HW = images.size(2) * images.size(3);
  if (N * HW == 0) fail_input("pca_noise: cannot fit color statistics on an empty training set");
  const uint8_t* x = images.data<uint8_t>();
  std::vector<uint64_t> s1(static_cast<size_t>(C), 0), s2(static_cast<size_t>(C * C), 0);
#pragma omp parallel
  {
    std::vector<uint64_t> l1(static_cast<size_t>(C), 0), l2(static_cast<size_t>(C * C), 0);
#pragma omp for nowait
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < HW; ++k)
        for (int64_t c = 0; c < C; ++c) {
          const uint64_t vc = x[(i * C + c) * HW + k];
          l1[c] += vc;
          for (int64_t d = c; d < C; ++d) l2[c * C + d] += vc * x[(i * C + d) * HW + k];
        }
#pragma omp critical
    {
      for (int64_t c = 0; c < C; ++c) s1[c] += l1[c];
      for (int64_t k = 0; k < C * C; ++k) s2[k] += l2[k];
    }
  }
  const double n = static_cast<double>(N * HW);
  std::vector<double> cov(static_cast<size_t>(C * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t d = c; d < C; ++d) {
      const double v = (static_cast<double>(s2[c * C + d]) / n - (s1[c] / n) * (s1[d] / n)) / (255.0 * 255.0);
      cov[c * C + d] = cov[d * C + c] = v;
    }
  std::vector<double> val, vec;
  jacobi_eigen(cov, static_cast<int>(C), val, vec);
  std::vector<int64_t> order(static_cast<size_t>(C));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return val[a] > val[b]; });
  ColorPCA pca;
  pca.eigvec.resize(static_cast<size_t>(C * C));
  for (int64_t k = 0; k < C; ++k) {
    pca.eigval.push_back(static_cast<float>(std::max(0.0, val[order[k]])));
    // Sign convention: the largest component of each eigenvector is positive.
    double big = 0;
    for (int64_t r = 0; r < C; ++r)
      if (std::abs(vec[r * C + order[k]]) > std::abs(big)) big = vec[r * C + order[k]];
    for (int64_t r = 0; r < C; ++r) pca.eigvec[r * C + k] = static_cast<float>(vec[r * C + order[k]] * (big < 0 ? -1 : 1));
  }
  return pca;
}

// ---------------------------------------------------------------------------------------------
// The transforms: random parameters drawn as torchvision draws them, then the kernels.

namespace {

float rand_range(SampleRng& rng, const ParamValue& v) { return rng.uniform(static_cast<float>(v.num(0)), static_cast<float>(v.num(1))); }

Interp interp_of(const Params& p) { return p.at("interpolation").word == "nearest" ? Interp::nearest : Interp::bilinear; }

void apply_hflip(Image& img, SampleRng&, const Params&, const ColorPCA&) { hflip(img); }
void apply_vflip(Image& img, SampleRng&, const Params&, const ColorPCA&) { vflip(img); }

int64_t size_or(const Params& p, const char* key, int64_t fallback) {
  const int64_t s = static_cast<int64_t>(p.at(key).num());
  return s > 0 ? s : fallback;
}

void crop_size(const Params& p, int64_t& H, int64_t& W) { H = size_or(p, "size", H), W = size_or(p, "size", W); }

void apply_crop(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  int64_t oh = img.H, ow = img.W;
  crop_size(p, oh, ow);
  const int64_t pad = static_cast<int64_t>(p.at("padding").num());
  const std::string& m = p.at("padding_mode").word;
  const PadMode mode = m == "reflect" ? PadMode::reflect : m == "edge" ? PadMode::edge : PadMode::zero;
  if (mode == PadMode::reflect && (pad >= img.H || pad >= img.W))
    fail_input("data.augment: crop: reflect padding ", pad, " needs images larger than the padding, got ", img.H, "x", img.W);
  if (oh > img.H + 2 * pad || ow > img.W + 2 * pad)
    fail_input("data.augment: crop: size ", oh, "x", ow, " is larger than the padded ", img.H + 2 * pad, "x",
               img.W + 2 * pad, " image");
  const int64_t top = rng.below(img.H + 2 * pad - oh + 1), left = rng.below(img.W + 2 * pad - ow + 1);
  img = pad_crop(img, pad, mode, top, left, oh, ow);
}

void apply_random_resized_crop(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  int64_t oh = img.H, ow = img.W;
  crop_size(p, oh, ow);
  const double area = static_cast<double>(img.H * img.W);
  const ParamValue &scale = p.at("scale"), &ratio = p.at("ratio");
  const double lr0 = std::log(ratio.num(0)), lr1 = std::log(ratio.num(1));
  for (int attempt = 0; attempt < 10; ++attempt) {  // torchvision RandomResizedCrop.get_params
    const double target = area * rng.uniform(static_cast<float>(scale.num(0)), static_cast<float>(scale.num(1)));
    const double aspect = std::exp(lr0 + (lr1 - lr0) * rng.uniform());
    const int64_t w = std::lround(std::sqrt(target * aspect)), h = std::lround(std::sqrt(target / aspect));
    if (w > 0 && w <= img.W && h > 0 && h <= img.H) {
      const int64_t top = rng.below(img.H - h + 1), left = rng.below(img.W - w + 1);
      img = resized_crop(img, top, left, h, w, oh, ow);
      return;
    }
  }
  int64_t h = img.H, w = img.W;  // fallback: the central crop of the nearest allowed ratio
  const double in_ratio = static_cast<double>(img.W) / static_cast<double>(img.H);
  if (in_ratio < ratio.num(0)) h = std::lround(w / ratio.num(0));
  else if (in_ratio > ratio.num(1)) w = std::lround(h * ratio.num(1));
  img = resized_crop(img, (img.H - h) / 2, (img.W - w) / 2, h, w, oh, ow);
}

void resize_center_size(const Params& p, int64_t& H, int64_t& W) {
  const int64_t r = static_cast<int64_t>(p.at("resize").num());
  if (r > 0) {
    if (W <= H) H = r * H / W, W = r;
    else W = r * W / H, H = r;
  }
  crop_size(p, H, W);
}

void apply_resize_center_crop(Image& img, SampleRng&, const Params& p, const ColorPCA&) {
  const int64_t r = static_cast<int64_t>(p.at("resize").num());
  if (r > 0) img = resize_shorter(img, r);
  int64_t oh = img.H, ow = img.W;
  crop_size(p, oh, ow);
  img = center_crop(img, oh, ow);
}

void apply_translate(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  const ParamValue& t = p.at("max");
  const float mx = static_cast<float>(t.num(0) * img.W), my = static_cast<float>(t.num(1) * img.H);
  const double tx = std::nearbyint(rng.uniform(-mx, mx)), ty = std::nearbyint(rng.uniform(-my, my));
  img = affine(img, 0, tx, ty, 1, 0, 0, Interp::nearest, static_cast<float>(p.at("fill").num()));
}

void apply_rotate(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  const float angle = rand_range(rng, p.at("degrees"));  // counter-clockwise, as F.rotate
  img = affine(img, -angle, 0, 0, 1, 0, 0, interp_of(p), static_cast<float>(p.at("fill").num()));
}

void apply_affine(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  // torchvision RandomAffine.get_params, in its order of draws.
  const float angle = rand_range(rng, p.at("degrees"));
  const ParamValue& t = p.at("translate");
  const float mx = static_cast<float>(t.num(0) * img.W), my = static_cast<float>(t.num(1) * img.H);
  const double tx = std::nearbyint(rng.uniform(-mx, mx)), ty = std::nearbyint(rng.uniform(-my, my));
  const float scale = rand_range(rng, p.at("scale"));
  const float shx = rand_range(rng, p.at("shear_x")), shy = rand_range(rng, p.at("shear_y"));
  img = affine(img, angle, tx, ty, scale, shx, shy, interp_of(p), static_cast<float>(p.at("fill").num()));
}

void apply_color_jitter(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  for (int k : order) {
    const char* key = k == 0 ? "brightness" : k == 1 ? "contrast" : k == 2 ? "saturation" : "hue";
    const float a = static_cast<float>(p.at(key).num());
    if (a == 0) continue;
    if (k == 3) {
      adjust_hue(img, rng.uniform(-a, a));
      continue;
    }
    const float f = rng.uniform(std::max(0.0f, 1.0f - a), 1.0f + a);
    if (k == 0) adjust_brightness(img, f);
    else if (k == 1) adjust_contrast(img, f);
    else adjust_saturation(img, f);
  }
}

void apply_pca_noise(Image& img, SampleRng& rng, const Params& p, const ColorPCA& pca) {
  CHECK(!pca.empty() && static_cast<int64_t>(pca.eigval.size()) == img.C,
        "pca_noise: no color statistics fitted for ", img.C, " channels (the loader fits them on the training set)");
  const float sd = static_cast<float>(p.at("alphastd").num());
  const int64_t C = img.C, HW = img.H * img.W;
  std::vector<float> alpha(static_cast<size_t>(C));
  for (int64_t k = 0; k < C; ++k) alpha[k] = rng.normal() * sd * pca.eigval[k];
  for (int64_t c = 0; c < C; ++c) {
    float shift = 0;  // Krizhevsky et al. 2012: add [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T to each pixel
    for (int64_t k = 0; k < C; ++k) shift += pca.eigvec[c * C + k] * alpha[k];
    float* q = img.plane(c);
    for (int64_t i = 0; i < HW; ++i) q[i] = std::min(1.0f, std::max(0.0f, q[i] + shift));
  }
}

void apply_grayscale(Image& img, SampleRng&, const Params&, const ColorPCA&) { to_grayscale(img); }

void apply_gaussian_noise(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  const float sd = static_cast<float>(p.at("std").num());
  for (float& v : img.data) v = std::min(1.0f, std::max(0.0f, v + sd * rng.normal()));
}

void apply_erasing(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  // torchvision RandomErasing.get_params (Zhong et al. 2017): 10 attempts, else leave the image.
  const double area = static_cast<double>(img.H * img.W);
  const ParamValue &scale = p.at("scale"), &ratio = p.at("ratio");
  const double lr0 = std::log(ratio.num(0)), lr1 = std::log(ratio.num(1));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(static_cast<float>(scale.num(0)), static_cast<float>(scale.num(1)));
    const double aspect = std::exp(lr0 + (lr1 - lr0) * rng.uniform());
    const int64_t h = std::lround(std::sqrt(target * aspect)), w = std::lround(std::sqrt(target / aspect));
    if (!(h < img.H && w < img.W)) continue;
    const int64_t top = rng.below(img.H - h + 1), left = rng.below(img.W - w + 1);
    if (p.at("mode").word == "random") {
      for (int64_t c = 0; c < img.C; ++c)
        for (int64_t y = top; y < top + h; ++y)
          for (int64_t x = left; x < left + w; ++x) img.plane(c)[y * img.W + x] = std::min(1.0f, std::max(0.0f, 0.5f + 0.25f * rng.normal()));
    } else {
      erase(img, top, left, h, w, static_cast<float>(p.at("value").num()));
    }
    return;
  }
}

void apply_cutout(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  // DeVries & Taylor 2017: a size x size square centred anywhere in the image, clipped at the border.
  const int64_t s = static_cast<int64_t>(p.at("size").num());
  const int64_t cy = rng.below(img.H), cx = rng.below(img.W);
  erase(img, cy - s / 2, cx - s / 2, s, s, static_cast<float>(p.at("value").num()));
}

// One op of RandAugment / TrivialAugment with a magnitude in [0, 1] of its range (Cubuk et al. 2020;
// Müller & Hutter 2021), torchvision's op list.
enum class AutoOp { identity, shear_x, shear_y, translate_x, translate_y, rotate, brightness, color, contrast, sharpness, posterize, solarize, autocontrast, equalize };
constexpr int kAutoOps = 14;

void auto_op(Image& img, AutoOp op, double mag, bool wide, SampleRng& rng) {
  const double sign = rng.uniform() < 0.5 ? -1.0 : 1.0;
  const double enh = (wide ? 0.99 : 0.9) * mag * sign;
  switch (op) {
    case AutoOp::identity: break;
    case AutoOp::shear_x: img = affine(img, 0, 0, 0, 1, std::atan((wide ? 0.99 : 0.3) * mag * sign) * 180.0 / M_PI, 0, Interp::nearest, 0); break;
    case AutoOp::shear_y: img = affine(img, 0, 0, 0, 1, 0, std::atan((wide ? 0.99 : 0.3) * mag * sign) * 180.0 / M_PI, Interp::nearest, 0); break;
    case AutoOp::translate_x: img = affine(img, 0, std::trunc((wide ? 32.0 : 150.0 / 331.0 * img.W) * mag * sign), 0, 1, 0, 0, Interp::nearest, 0); break;
    case AutoOp::translate_y: img = affine(img, 0, 0, std::trunc((wide ? 32.0 : 150.0 / 331.0 * img.H) * mag * sign), 1, 0, 0, Interp::nearest, 0); break;
    case AutoOp::rotate: img = affine(img, -(wide ? 135.0 : 30.0) * mag * sign, 0, 0, 1, 0, 0, Interp::nearest, 0); break;
    case AutoOp::brightness: adjust_brightness(img, static_cast<float>(1.0 + enh)); break;
    case AutoOp::color: adjust_saturation(img, static_cast<float>(1.0 + enh)); break;
    case AutoOp::contrast: adjust_contrast(img, static_cast<float>(1.0 + enh)); break;
    case AutoOp::sharpness: adjust_sharpness(img, static_cast<float>(1.0 + enh)); break;
    case AutoOp::posterize: posterize(img, 8 - static_cast<int>(std::lround(mag * (wide ? 6 : 4)))); break;
    case AutoOp::solarize: solarize(img, static_cast<float>(1.0 - mag)); break;
    case AutoOp::autocontrast: autocontrast(img); break;
    case AutoOp::equalize: equalize(img); break;
  }
}

void apply_randaugment(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  const int64_t n = static_cast<int64_t>(p.at("n").num()), bins = static_cast<int64_t>(p.at("bins").num());
  const double mag = p.at("m").num() / static_cast<double>(bins - 1);
  for (int64_t i = 0; i < n; ++i) auto_op(img, static_cast<AutoOp>(rng.below(kAutoOps)), mag, false, rng);
}

void apply_trivialaugment(Image& img, SampleRng& rng, const Params& p, const ColorPCA&) {
  const int64_t bins = static_cast<int64_t>(p.at("bins").num());
  const AutoOp op = static_cast<AutoOp>(rng.below(kAutoOps));
  auto_op(img, op, static_cast<double>(rng.below(bins)) / static_cast<double>(bins - 1), true, rng);
}

constexpr double kBig = 1e9;
constexpr double kMaxSide = 4096;  // pixels: an image side or padding larger than this is a typo, and its buffer would not fit

}  // namespace

// The registry. An entry without `p:` is applied with the transform's default_p, torchvision's default
// for its counterpart (flips and erasing 0.5, grayscale 0.1, the rest always).
const std::vector<TransformDef>& augment_registry() {
  static const std::vector<TransformDef> table = {
      {"hflip", "Mirror left-right (torchvision RandomHorizontalFlip).", {}, apply_hflip, nullptr, 0.5},
      {"vflip", "Mirror top-bottom (torchvision RandomVerticalFlip).", {}, apply_vflip, nullptr, 0.5},
      {"crop", "Random crop after padding (torchvision RandomCrop).",
       {{"size", "0", 0, kMaxSide, "output side in pixels (0: the input size)"},
        {"padding", "4", 0, kMaxSide, "pixels added on every side"},
        {"padding_mode", "zero|reflect|edge", 0, 0, "how the padding is filled"}},
       apply_crop, crop_size},
      {"random_resized_crop", "Random area and aspect, resized bilinearly (torchvision RandomResizedCrop, no antialias).",
       {{"size", "0", 0, kMaxSide, "output side (0: the input size)"},
        {"scale", "0.08,1", 0, 1, "range of the crop's area fraction"},
        {"ratio", "0.75,1.3333333", 1e-3, 1e3, "range of the crop's aspect ratio w/h (sampled in log space)"}},
       apply_random_resized_crop, crop_size},
      {"resize_center_crop", "Resize the shorter side, then take the central crop (deterministic).",
       {{"resize", "0", 0, kMaxSide, "shorter side after resizing (0: no resize)"},
        {"size", "0", 0, kMaxSide, "side of the central crop (0: the resized size)"}},
       apply_resize_center_crop, resize_center_size},
      {"translate", "Random shift by whole pixels (torchvision RandomAffine translate).",
       {{"max", "0.1,0.1", 0, 1, "largest shift as a fraction of width, height"},
        {"fill", "0", 0, 1, "value of uncovered pixels"}},
       apply_translate, nullptr},
      {"rotate", "Random rotation about the center, degrees counter-clockwise (torchvision RandomRotation).",
       {{"degrees", "-15,15", -360, 360, "range of the angle (one number d: [-d, d])"},
        {"fill", "0", 0, 1, "value of uncovered pixels"},
        {"interpolation", "bilinear|nearest", 0, 0, "sampling"}},
       apply_rotate, nullptr},
      {"affine", "Random rotation, translation, scale and shear/stretch (torchvision RandomAffine).",
       {{"degrees", "0,0", -360, 360, "range of the clockwise angle"},
        {"translate", "0,0", 0, 1, "largest shift as a fraction of width, height"},
        {"scale", "1,1", 1e-3, 100, "range of the scale factor"},
        {"shear_x", "0,0", -89, 89, "range of the x shear in degrees (one number s: [-s, s])"},
        {"shear_y", "0,0", -89, 89, "range of the y shear in degrees"},
        {"fill", "0", 0, 1, "value of uncovered pixels"},
        {"interpolation", "bilinear|nearest", 0, 0, "sampling"}},
       apply_affine, nullptr},
      {"color_jitter", "Brightness, contrast, saturation, hue in random order (torchvision ColorJitter).",
       {{"brightness", "0", 0, kBig, "factor drawn from [max(0, 1-b), 1+b]"},
        {"contrast", "0", 0, kBig, "factor drawn from [max(0, 1-c), 1+c]"},
        {"saturation", "0", 0, kBig, "factor drawn from [max(0, 1-s), 1+s] (3 channels only)", nullptr, true},
        {"hue", "0", 0, 0.5, "shift drawn from [-h, h] (3 channels only)", nullptr, true}},
       apply_color_jitter, nullptr},
      {"pca_noise", "AlexNet's PCA color noise; eigenvectors fitted on the training set.",
       {{"alphastd", "0.1", 0, kBig, "std of the random weight of each principal component"}}, apply_pca_noise, nullptr},
      {"grayscale", "Replace every channel by the luma (3 channels only; torchvision RandomGrayscale).", {}, apply_grayscale,
       nullptr, 0.1, true},
      {"gaussian_noise", "Add N(0, std^2) per pixel, clipped to [0, 1].",
       {{"std", "0.05", 0, kBig, "noise std in [0,1] pixel units"}}, apply_gaussian_noise, nullptr},
      {"erasing", "Random erasing of a rectangle (Zhong et al. 2017; torchvision RandomErasing).",
       {{"scale", "0.02,0.33", 0, 1, "range of the erased area fraction"},
        {"ratio", "0.3,3.3", 1e-3, 1e3, "range of the aspect ratio h/w"},
        {"value", "0", 0, 1, "fill value in [0,1] pixel units (mode constant)", "mode=constant"},
        {"mode", "constant|random", 0, 0, "constant value, or random per-pixel values"}},
       apply_erasing, nullptr, 0.5},
      {"cutout", "A square of fixed size at a random center, clipped (DeVries & Taylor 2017).",
       {{"size", "8", 1, kMaxSide, "side of the square"}, {"value", "0", 0, 1, "fill value"}}, apply_cutout, nullptr},
      {"randaugment", "RandAugment (Cubuk et al. 2020): n random ops of magnitude m (torchvision's ops).",
       {{"n", "2", 0, 100, "ops per image"}, {"m", "9", 0, kBig, "magnitude bin in [0, bins)"},
        {"bins", "31", 2, 1000, "number of magnitude bins"}},
       apply_randaugment, nullptr},
      {"trivialaugment", "TrivialAugment Wide (Müller & Hutter 2021): one random op, random magnitude.",
       {{"bins", "31", 2, 1000, "number of magnitude bins"}}, apply_trivialaugment, nullptr},
  };
  return table;
}

const TransformDef* find_transform(const std::string& name) {
  for (const TransformDef& t : augment_registry())
    if (name == t.name) return &t;
  return nullptr;
}

double applied_p(const AugmentSpec& spec) {
  if (spec.p >= 0) return spec.p;
  const TransformDef* def = find_transform(spec.name);
  return def ? def->default_p : 1.0;
}

// ---------------------------------------------------------------------------------------------
// Parsing and the pipeline

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "4", "[0.08, 1.0]", "0.08,1", "reflect" -> ParamValue. Words are returned in .word.
ParamValue parse_value(std::string text) {
  text = trim(text);
  if (!text.empty() && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  ParamValue v;
  std::stringstream ss(text);
  std::string item;
  bool all_numbers = true;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    char* end = nullptr;
    const double d = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0') all_numbers = false;
    else v.nums.push_back(d);
  }
  if (!all_numbers) v.nums.clear(), v.word = trim(text);
  return v;
}

ParamValue parse_param(const ParamDef& def, const std::string& text, const std::string& where) {
  const std::string d = def.def;
  ParamValue v = parse_value(text);
  if (d.find('|') != std::string::npos) {
    if (("|" + d + "|").find("|" + v.word + "|") == std::string::npos || v.word.empty())
      fail_input(where, ": expected one of ", d, ", got '", text, "'");
    return v;
  }
  const bool range = d.find(',') != std::string::npos;
  if (!v.word.empty() || v.nums.empty()) fail_input(where, ": expected ", range ? "a number or [lo, hi]" : "a number", ", got '", text, "'");
  if (!range && v.nums.size() != 1) fail_input(where, ": expected one number, got '", text, "'");
  if (range && v.nums.size() == 1) v.nums = def.lo < 0 ? std::vector<double>{-std::abs(v.nums[0]), std::abs(v.nums[0])} : std::vector<double>{v.nums[0], v.nums[0]};
  if (v.nums.size() != (range ? 2u : 1u)) fail_input(where, ": expected [lo, hi], got '", text, "'");
  for (double x : v.nums)
    if (!(x >= def.lo && x <= def.hi)) fail_input(where, ": ", x, " is outside [", def.lo, ", ", def.hi, "]");
  if (range && std::string(def.name) != "translate" && std::string(def.name) != "max" && v.nums[0] > v.nums[1])
    fail_input(where, ": the range [", v.nums[0], ", ", v.nums[1], "] is reversed");
  return v;
}

}  // namespace

AugmentPipeline::AugmentPipeline(const std::vector<AugmentSpec>& specs, const std::string& where) {
  for (size_t i = 0; i < specs.size(); ++i) {
    const AugmentSpec& s = specs[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    const TransformDef* def = find_transform(s.name);
    if (!def) {
      std::string known;
      for (const TransformDef& t : augment_registry()) known += (known.empty() ? "" : ", ") + std::string(t.name);
      fail_input(at, ".name: unknown augmentation '", s.name, "' (known: ", known, ")");
    }
    const double p = applied_p(s);
    if (!(p <= 1)) fail_input(at, ".p: must be in [0, 1], got ", s.p);
    AugmentStep step{def, p, {}};
    for (const auto& [key, text] : s.params) {
      auto it = std::find_if(def->params.begin(), def->params.end(), [&key = key](const ParamDef& d) { return key == d.name; });
      if (it == def->params.end()) {
        std::string known;
        for (const ParamDef& d : def->params) known += (known.empty() ? "" : ", ") + std::string(d.name);
        fail_input(at, ".", key, ": ", s.name, " has no parameter '", key, "' (it has: ", known.empty() ? "none" : known, ")");
      }
    }
    for (const ParamDef& d : def->params) {
      auto it = s.params.find(d.name);
      const std::string text = it != s.params.end() ? it->second : std::string(d.def).substr(0, std::string(d.def).find('|'));
      step.params[d.name] = parse_param(d, text, at + "." + d.name);
    }
    if (s.name == "randaugment" && step.params["m"].num() >= step.params["bins"].num())
      fail_input(at, ".m: must be below bins (", step.params["bins"].num(), ")");
    steps_.push_back(std::move(step));
  }
}

void check_params_read(const std::vector<AugmentSpec>& specs, const std::string& where) {
  const AugmentPipeline parsed(specs, where);  // every parameter's value, a left-out one at its default
  for (size_t i = 0; i < specs.size(); ++i)
    for (const ParamDef& d : parsed.steps()[i].def->params) {
      if (!d.read_when || !specs[i].params.count(d.name)) continue;
      const std::string when = d.read_when;
      const std::string key = when.substr(0, when.find('=')), wanted = when.substr(when.find('=') + 1);
      const std::string& given = parsed.steps()[i].params.at(key).word;
      if (given != wanted)
        fail_input(where, "[", i, "].", d.name, ": no effect with ", key, " ", given, " (read only with ", key, " ", wanted, ")");
    }
}

void AugmentPipeline::check_channels(int64_t channels, const std::string& where) const {
  if (channels == 3) return;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const TransformDef& def = *steps_[i].def;
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (def.needs_rgb) fail_input(at, ": ", def.name, " has no effect on ", channels, "-channel images (it needs 3)");
    for (const ParamDef& d : def.params)
      if (d.needs_rgb && steps_[i].params.at(d.name).num() != 0)
        fail_input(at, ".", d.name, ": no effect on ", channels, "-channel images (it needs 3)");
  }
}

bool AugmentPipeline::needs_color_pca() const {
  return std::any_of(steps_.begin(), steps_.end(), [](const AugmentStep& s) { return std::string(s.def->name) == "pca_noise"; });
}

void AugmentPipeline::out_size(int64_t& H, int64_t& W) const {
  for (const AugmentStep& s : steps_)
    if (s.def->out_size) s.def->out_size(s.params, H, W);
}

void AugmentPipeline::apply(Image& img, SampleRng& rng) const {
  for (const AugmentStep& s : steps_) {
    // Every step draws its coin, so a step's draws do not shift when an earlier p changes.
    const bool on = s.p >= 1.0 || rng.uniform() < s.p;
    if (on) s.def->apply(img, rng, s.params, pca_);
  }
}

Image AugmentPipeline::run(const Image& img, uint64_t seed, uint64_t epoch, uint64_t index) const {
  Image out = img;
  SampleRng rng(seed, epoch, index);
  apply(out, rng);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Batch mixing

double mix_batch(const MixSpec& spec, float* x, const int64_t* y, float* soft, int64_t B, int64_t C, int64_t H,
                 int64_t W, int64_t K, SampleRng& rng) {
  CHECK(spec.enabled() && B > 0, "mix_batch: no mixing configured");
  const bool use_mixup = spec.cutmix_alpha <= 0 || (spec.mixup_alpha > 0 && rng.uniform() < 0.5f);
  double lam = rng.beta(use_mixup ? spec.mixup_alpha : spec.cutmix_alpha, use_mixup ? spec.mixup_alpha : spec.cutmix_alpha);
  const int64_t CHW = C * H * W;
  std::vector<float> orig(x, x + B * CHW);
  if (use_mixup) {
    const float l = static_cast<float>(lam);
    for (int64_t b = 0; b < B; ++b) {
      const float* o = orig.data() + (B - 1 - b) * CHW;
      for (int64_t k = 0; k < CHW; ++k) x[b * CHW + k] = l * x[b * CHW + k] + (1.0f - l) * o[k];
    }
  } else {
    const double cut = std::sqrt(1.0 - lam);
    const int64_t cw = static_cast<int64_t>(W * cut), ch = static_cast<int64_t>(H * cut);
    const int64_t cx = rng.below(W), cy = rng.below(H);
    const int64_t x0 = std::clamp<int64_t>(cx - cw / 2, 0, W), x1 = std::clamp<int64_t>(cx + cw / 2, 0, W);
    const int64_t y0 = std::clamp<int64_t>(cy - ch / 2, 0, H), y1 = std::clamp<int64_t>(cy + ch / 2, 0, H);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t yy = y0; yy < y1; ++yy)
          for (int64_t xx = x0; xx < x1; ++xx) x[b * CHW + (c * H + yy) * W + xx] = orig[(B - 1 - b) * CHW + (c * H + yy) * W + xx];
    lam = 1.0 - static_cast<double>((x1 - x0) * (y1 - y0)) / static_cast<double>(H * W);
  }
  std::fill(soft, soft + B * K, 0.0f);
  for (int64_t b = 0; b < B; ++b) {
    soft[b * K + y[b]] += static_cast<float>(lam);
    soft[b * K + y[B - 1 - b]] += static_cast<float>(1.0 - lam);
  }
  return lam;
}

}  // namespace cvtrain
