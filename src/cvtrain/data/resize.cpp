// The antialiased bilinear resize of Pillow's Resample.c (ImagingResample with the BILINEAR filter,
// 8 bits per channel), which torchvision 0.14's Resize calls on PIL images, restricted to a crop
// window; the channel conversion of Pillow's convert(); and their application to whole datasets.
#include "cvtrain/data/resize.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"

namespace cvtrain {

ImageSpec image_spec(const DataOptions& o) {
  ImageSpec s;
  s.channels = o.channels;
  s.size = o.image_size;
  s.crop_fraction = o.crop_fraction;
  return s;
}

namespace {

// Python's int(round(x / 2.0)) for an integer x >= 0: halves round to the even neighbour.
int64_t half_to_even(int64_t x) {
  const int64_t q = x / 2;
  return (x % 2 != 0 && q % 2 != 0) ? q + 1 : q;
}

}  // namespace

int64_t shorter_side_target(const ImageSpec& spec) {  // timm: scale_size = math.floor(img_size / crop_pct)
  return static_cast<int64_t>(std::floor(static_cast<double>(spec.size[0]) / spec.crop_fraction));
}

ResizePlan plan_resize(const ImageSpec& spec, int64_t H, int64_t W) {
  ResizePlan p;
  if (!spec.resizes()) {
    p.RH = p.OH = H, p.RW = p.OW = W;
    return p;
  }
  if (spec.size.size() == 2) {
    p.RH = p.OH = spec.size[0], p.RW = p.OW = spec.size[1];
    return p;
  }
  const int64_t S = spec.size[0], short_to = shorter_side_target(spec);
  const int64_t shorter = std::min(H, W), longer = std::max(H, W);
  const auto long_to = static_cast<int64_t>(static_cast<double>(short_to * longer) / static_cast<double>(shorter));
  p.RH = W <= H ? long_to : short_to;
  p.RW = W <= H ? short_to : long_to;
  p.OH = p.OW = S;
  p.top = half_to_even(p.RH - S);
  p.left = half_to_even(p.RW - S);
  return p;
}

Shape prepared_shape(const ImageSpec& spec, int64_t C, int64_t H, int64_t W) {
  const ResizePlan p = plan_resize(spec, H, W);
  return {spec.channels > 0 ? spec.channels : C, p.OH, p.OW};
}

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the output indices [first, first + count)
// of a resize from in_size to out_size: output i reads inputs [start[i], start[i] + taps[i]) with
// fixed-point weights weight[i * ksize + t].
struct Coeffs {
  int64_t ksize = 0;
  std::vector<int64_t> start, taps;
  std::vector<int32_t> weight;
};

double bilinear_filter(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

Coeffs precompute_coeffs(int64_t in_size, int64_t out_size, int64_t first, int64_t count) {
  const double scale = static_cast<double>(static_cast<float>(in_size)) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the bilinear filter's support is 1
  Coeffs c;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.start.resize(static_cast<size_t>(count));
  c.taps.resize(static_cast<size_t>(count));
  c.weight.assign(static_cast<size_t>(count * c.ksize), 0);
  std::vector<double> k(static_cast<size_t>(c.ksize));
  for (int64_t i = 0; i < count; ++i) {
    const double center = (static_cast<double>(first + i) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // NOTE: C's (int) truncation, as Pillow; negative values are clamped to 0 right after.
    const int64_t xmin = std::max<int64_t>(static_cast<int>(center - support + 0.5), 0);
    const int64_t xmax = std::min<int64_t>(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) ww += k[x] = bilinear_filter((static_cast<double>(x + xmin) - center + 0.5) * ss);
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weight[i * c.ksize + x] = static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.start[i] = xmin, c.taps[i] = xmax;
  }
  return c;
}

// Pillow's clip8: the accumulator back to a byte.
uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

}  // namespace

void resize_bilinear_aa(const uint8_t* src, int64_t C, int64_t H, int64_t W, int64_t RH, int64_t RW, int64_t top,
                        int64_t left, int64_t OH, int64_t OW, uint8_t* dst) {
  CHECK(C > 0 && H > 0 && W > 0 && RH > 0 && RW > 0 && OH > 0 && OW > 0 && top >= 0 && left >= 0 && top + OH <= RH &&
            left + OW <= RW,
        "resize_bilinear_aa: ", C, "x", H, "x", W, " -> ", RH, "x", RW, ", window (", top, ",", left, ") ", OH, "x", OW);
  const Coeffs hc = precompute_coeffs(W, RW, left, OW);
  Coeffs vc = precompute_coeffs(H, RH, top, OH);
  // The input rows the window's output rows read: the horizontal pass makes only those.
  const int64_t row0 = vc.start[0], rows = vc.start[OH - 1] + vc.taps[OH - 1] - row0;
  for (int64_t& s : vc.start) s -= row0;
  std::vector<uint8_t> tmp(static_cast<size_t>(rows * OW));  // (rows, OW): after the horizontal pass
  std::vector<int32_t> acc(static_cast<size_t>(OW));
  for (int64_t c = 0; c < C; ++c) {
    const uint8_t* plane = src + c * H * W;
    for (int64_t y = 0; y < rows; ++y) {  // horizontal pass, Pillow's ImagingResampleHorizontal_8bpc
      const uint8_t* in = plane + (row0 + y) * W;
      for (int64_t x = 0; x < OW; ++x) {
        const int32_t* k = hc.weight.data() + x * hc.ksize;
        const uint8_t* p = in + hc.start[x];
        int32_t s = 1 << (kPrecisionBits - 1);
        for (int64_t t = 0; t < hc.taps[x]; ++t) s += p[t] * k[t];
        tmp[y * OW + x] = clip8(s);
      }
    }
    uint8_t* out = dst + c * OH * OW;
    for (int64_t y = 0; y < OH; ++y) {  // vertical pass, ImagingResampleVertical_8bpc, a row at a time
      std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
      const int32_t* k = vc.weight.data() + y * vc.ksize;
      for (int64_t t = 0; t < vc.taps[y]; ++t) {
        const uint8_t* in = tmp.data() + (vc.start[y] + t) * OW;
        const int32_t w = k[t];
        for (int64_t x = 0; x < OW; ++x) acc[x] += in[x] * w;
      }
      for (int64_t x = 0; x < OW; ++x) out[y * OW + x] = clip8(acc[x]);
    }
  }
}

void convert_channels(const uint8_t* src, int64_t C, int64_t HW, int64_t OC, uint8_t* dst) {
  CHECK((C == 1 || C == 3) && (OC == 1 || OC == 3), "convert_channels: ", C, " -> ", OC, " channels");
  if (C == OC) {
    std::memcpy(dst, src, static_cast<size_t>(C * HW));
  } else if (C == 1) {
    for (int64_t c = 0; c < 3; ++c) std::memcpy(dst + c * HW, src, static_cast<size_t>(HW));
  } else {  // Pillow's rgb2l: L24
    for (int64_t i = 0; i < HW; ++i)
      dst[i] = static_cast<uint8_t>((src[i] * 19595 + src[HW + i] * 38470 + src[2 * HW + i] * 7471 + 0x8000) >> 16);
  }
}

namespace {

bool is_identity(const ResizePlan& p, int64_t H, int64_t W) { return p.RH == H && p.RW == W && p.OH == H && p.OW == W; }

// One image through the spec into dst (the prepared shape). Gray -> RGB is copied after the resize
// (the same pixels: the channels are resized alike), RGB -> gray converted before it.
void prepare_into(const uint8_t* src, int64_t C, int64_t H, int64_t W, const ImageSpec& spec, uint8_t* dst,
                  std::vector<uint8_t>& scratch) {
  const int64_t OC = spec.channels > 0 ? spec.channels : C;
  const ResizePlan p = plan_resize(spec, H, W);
  if (is_identity(p, H, W)) {
    convert_channels(src, C, H * W, OC, dst);
    return;
  }
  const int64_t RC = std::min(C, OC);  // the channels resized
  const uint8_t* in = src;
  if (C == 3 && OC == 1) {
    scratch.resize(static_cast<size_t>(H * W));
    convert_channels(src, 3, H * W, 1, scratch.data());
    in = scratch.data();
  }
  resize_bilinear_aa(in, RC, H, W, p.RH, p.RW, p.top, p.left, p.OH, p.OW, dst);
  if (C == 1 && OC == 3)
    for (int64_t c = 1; c < 3; ++c) std::memcpy(dst + c * p.OH * p.OW, dst, static_cast<size_t>(p.OH * p.OW));
}

}  // namespace

U8Image prepare_image(const U8Image& img, const ImageSpec& spec) {
  if (img.C != 1 && img.C != 3) fail_input("image of ", img.C, " channels; 1 (gray) or 3 (RGB) expected");
  const Shape s = prepared_shape(spec, img.C, img.H, img.W);
  U8Image out{s[0], s[1], s[2], std::vector<uint8_t>(static_cast<size_t>(s[0] * s[1] * s[2]))};
  std::vector<uint8_t> scratch;
  prepare_into(img.data.data(), img.C, img.H, img.W, spec, out.data.data(), scratch);
  return out;
}

int64_t prepared_bytes_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page / 2 : int64_t{4} << 30;
}

void prepare_dataset(Dataset& data, const ImageSpec& spec) {
  if (!spec.active() || data.size() == 0) return;
  const Tensor& images = data.images;
  CHECK(images.dim() == 4 && images.dtype() == DType::u8 && images.is_contiguous(),
        "prepare_dataset: images must be contiguous (N,C,H,W) u8");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const Shape s = prepared_shape(spec, C, H, W);
  if (s[0] == C && is_identity(plan_resize(spec, H, W), H, W)) return;
  if (s[0] != C && C != 1 && C != 3) fail_input("data.channels: the ", data.name, " images have ", C, " channels; only 1 or 3 convert");
  const int64_t bytes = N * s[0] * s[1] * s[2];
  if (bytes > prepared_bytes_limit())
    fail_input("data.image_size: ", N, " images of ", s[0], "x", s[1], "x", s[2], " take ", bytes >> 20,
               " MiB, more than half of this machine's memory (", prepared_bytes_limit() >> 20,
               " MiB); use a smaller data.image_size or fewer images (data.limit_train, data.per_class)");
  Tensor out = Tensor::empty({N, s[0], s[1], s[2]}, DType::u8);
  const uint8_t* src = images.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
#pragma omp parallel
  {
    std::vector<uint8_t> scratch;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i)
      prepare_into(src + i * C * H * W, C, H, W, spec, dst + i * s[0] * s[1] * s[2], scratch);
  }
  data.images = out;
}

std::string describe(const ImageSpec& spec) {
  std::string out;
  if (spec.channels > 0) out = spec.channels == 3 ? "convert to RGB (gray copied to 3 channels)" : "convert to gray (ITU-R 601-2 luma, as PIL convert(\"L\"))";
  if (spec.resizes()) {
    out += out.empty() ? "" : "; ";
    if (spec.size.size() == 2) {
      out += "resize to " + std::to_string(spec.size[0]) + "x" + std::to_string(spec.size[1]) +
             " (HxW; antialiased bilinear, torchvision 0.14 Resize on PIL images)";
    } else {
      out += "resize the shorter side to " + std::to_string(shorter_side_target(spec)) +
             " (antialiased bilinear, torchvision 0.14 Resize on PIL images) and center-crop " +
             std::to_string(spec.size[0]) + "x" + std::to_string(spec.size[0]);
    }
  }
  return out;
}

std::string image_spec_json(const ImageSpec& spec) {
  nlohmann::json j = {{"channels", spec.channels}, {"image_size", spec.resizes() ? spec.size : std::vector<int64_t>{}},
                      {"crop_fraction", spec.crop_fraction}, {"resize", describe(spec)}};
  return j.dump();
}

}  // namespace cvtrain
