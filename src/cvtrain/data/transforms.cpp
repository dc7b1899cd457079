// The deterministic image kernels of transforms.h, written after torchvision.transforms.functional's
// tensor paths (v0.14) so that recorded fixtures match within f32 rounding. Plain loops over planar
// f32; one image per call (the loader parallelizes over images).
#include "cvtrain/data/transforms.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "cvtrain/base/error.h"

namespace cvtrain {
namespace {

float clamp01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

// Padded coordinate p in [0, n + 2 pad) -> source index, or -1 for the zero border.
int64_t pad_index(int64_t p, int64_t pad, int64_t n, PadMode mode) {
  int64_t i = p - pad;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::zero: return -1;
    case PadMode::edge: return std::clamp<int64_t>(i, 0, n - 1);
    case PadMode::reflect:
      // NOTE: reflection without repeating the edge pixel (numpy 'reflect'); needs pad < n.
      if (n == 1) return 0;
      while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
      return i;
  }
  return -1;
}

// PyTorch's area_pixel_compute_source_index for align_corners=False, then the two neighbours.
struct Tap {
  int64_t i0, i1;
  float w0, w1;
};
std::vector<Tap> bilinear_taps(int64_t in, int64_t out) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    const float l1 = src - static_cast<float>(i0);
    taps[o] = {i0, i1, 1.0f - l1, l1};
  }
  return taps;
}

float gray_at(const Image& img, int64_t k) {
  const int64_t HW = img.H * img.W;
  return 0.2989f * img.data[k] + 0.587f * img.data[HW + k] + 0.114f * img.data[2 * HW + k];
}

}  // namespace

Image make_image(int64_t C, int64_t H, int64_t W, float value) {
  Image img;
  img.C = C, img.H = H, img.W = W;
  img.data.assign(static_cast<size_t>(C * H * W), value);
  return img;
}

Image from_u8(const uint8_t* src, int64_t C, int64_t H, int64_t W) {
  Image img = make_image(C, H, W);
  for (size_t k = 0; k < img.data.size(); ++k) img.data[k] = static_cast<float>(src[k]) / 255.0f;
  return img;
}

void to_u8(const Image& img, uint8_t* dst) {
  for (size_t k = 0; k < img.data.size(); ++k) dst[k] = static_cast<uint8_t>(std::lround(clamp01(img.data[k]) * 255.0f));
}

void hflip(Image& img) {
  for (int64_t r = 0; r < img.C * img.H; ++r) std::reverse(img.data.begin() + r * img.W, img.data.begin() + (r + 1) * img.W);
}

void vflip(Image& img) {
  for (int64_t c = 0; c < img.C; ++c) {
    float* p = img.plane(c);
    for (int64_t y = 0; y < img.H / 2; ++y) std::swap_ranges(p + y * img.W, p + (y + 1) * img.W, p + (img.H - 1 - y) * img.W);
  }
}

Image pad_crop(const Image& src, int64_t pad, PadMode mode, int64_t top, int64_t left, int64_t out_h, int64_t out_w) {
  CHECK(pad >= 0 && top >= 0 && left >= 0 && top + out_h <= src.H + 2 * pad && left + out_w <= src.W + 2 * pad,
        "pad_crop: window (", top, ",", left, ") ", out_h, "x", out_w, " outside the ", src.H, "x", src.W,
        " image padded by ", pad);
  Image dst = make_image(src.C, out_h, out_w);
  std::vector<int64_t> xs(static_cast<size_t>(out_w));
  for (int64_t x = 0; x < out_w; ++x) xs[x] = pad_index(left + x, pad, src.W, mode);
  for (int64_t c = 0; c < src.C; ++c) {
    const float* s = src.plane(c);
    float* d = dst.plane(c);
    for (int64_t y = 0; y < out_h; ++y) {
      const int64_t sy = pad_index(top + y, pad, src.H, mode);
      if (sy < 0) continue;  // zero row
      for (int64_t x = 0; x < out_w; ++x) d[y * out_w + x] = xs[x] < 0 ? 0.0f : s[sy * src.W + xs[x]];
    }
  }
  return dst;
}

Image resized_crop(const Image& src, int64_t top, int64_t left, int64_t h, int64_t w, int64_t out_h, int64_t out_w) {
  CHECK(h > 0 && w > 0 && out_h > 0 && out_w > 0, "resized_crop: empty box ", h, "x", w, " or output ", out_h, "x", out_w);
  const std::vector<Tap> ty = bilinear_taps(h, out_h), tx = bilinear_taps(w, out_w);
  // Source pixel (box coordinates) -> value; the box is first cut out (zero outside the image), as
  // F.crop does, so interpolation clamps to the box edge.
  auto at = [&](const float* s, int64_t y, int64_t x) {
    const int64_t iy = top + y, ix = left + x;
    return iy < 0 || iy >= src.H || ix < 0 || ix >= src.W ? 0.0f : s[iy * src.W + ix];
  };
  Image dst = make_image(src.C, out_h, out_w);
  for (int64_t c = 0; c < src.C; ++c) {
    const float* s = src.plane(c);
    float* d = dst.plane(c);
    for (int64_t y = 0; y < out_h; ++y) {
      const Tap& a = ty[y];
      for (int64_t x = 0; x < out_w; ++x) {
        const Tap& b = tx[x];
        d[y * out_w + x] = a.w0 * (b.w0 * at(s, a.i0, b.i0) + b.w1 * at(s, a.i0, b.i1)) +
                           a.w1 * (b.w0 * at(s, a.i1, b.i0) + b.w1 * at(s, a.i1, b.i1));
      }
    }
  }
  return dst;
}

Image resize_shorter(const Image& src, int64_t size) {
  int64_t oh, ow;
  if (src.W <= src.H) ow = size, oh = size * src.H / src.W;
  else oh = size, ow = size * src.W / src.H;
  return resized_crop(src, 0, 0, src.H, src.W, oh, ow);
}

Image center_crop(const Image& src, int64_t out_h, int64_t out_w) {
  const int64_t top = static_cast<int64_t>(std::nearbyint((src.H - out_h) / 2.0));
  const int64_t left = static_cast<int64_t>(std::nearbyint((src.W - out_w) / 2.0));
  Image dst = make_image(src.C, out_h, out_w);
  for (int64_t c = 0; c < src.C; ++c)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < out_w; ++x) {
        const int64_t sy = top + y, sx = left + x;
        if (sy >= 0 && sy < src.H && sx >= 0 && sx < src.W) dst.plane(c)[y * out_w + x] = src.plane(c)[sy * src.W + sx];
      }
  return dst;
}

Image affine(const Image& src, double angle, double tx, double ty, double scale, double shear_x, double shear_y,
             Interp interp, float fill) {
  // torchvision _get_inverse_affine_matrix with the center at (0,0) (the image center, tensor path).
  const double kRad = M_PI / 180.0;
  const double rot = angle * kRad, sx = shear_x * kRad, sy = shear_y * kRad;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m = {d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0};
  m[2] += m[0] * -tx + m[1] * -ty;
  m[5] += m[3] * -tx + m[4] * -ty;
  // The grid's pixel centers are offsets from the center; grid_sample(align_corners=False) maps a
  // source offset u back to the pixel u + (W-1)/2.
  const double cx = (src.W - 1) * 0.5, cy = (src.H - 1) * 0.5;
  Image dst = make_image(src.C, src.H, src.W);
  const bool masked = fill != 0.0f;
  for (int64_t y = 0; y < src.H; ++y) {
    for (int64_t x = 0; x < src.W; ++x) {
      const double ox = x - cx, oy = y - cy;
      const float u = static_cast<float>(m[0] * ox + m[1] * oy + m[2] + cx);
      const float v = static_cast<float>(m[3] * ox + m[4] * oy + m[5] + cy);
      const int64_t k = y * src.W + x;
      if (interp == Interp::nearest) {
        const int64_t ix = static_cast<int64_t>(std::nearbyint(u)), iy = static_cast<int64_t>(std::nearbyint(v));
        const bool inside = ix >= 0 && ix < src.W && iy >= 0 && iy < src.H;
        for (int64_t ch = 0; ch < src.C; ++ch) dst.plane(ch)[k] = inside ? src.plane(ch)[iy * src.W + ix] : fill;
        continue;
      }
      const int64_t x0 = static_cast<int64_t>(std::floor(u)), y0 = static_cast<int64_t>(std::floor(v));
      const float fx = u - static_cast<float>(x0), fy = v - static_cast<float>(y0);
      const int64_t xs[2] = {x0, x0 + 1}, ys[2] = {y0, y0 + 1};
      const float wx[2] = {1 - fx, fx}, wy[2] = {1 - fy, fy};
      float mask = 0;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          if (ys[i] >= 0 && ys[i] < src.H && xs[j] >= 0 && xs[j] < src.W) mask += wy[i] * wx[j];
      for (int64_t ch = 0; ch < src.C; ++ch) {
        const float* s = src.plane(ch);
        float acc = 0;
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j)
            if (ys[i] >= 0 && ys[i] < src.H && xs[j] >= 0 && xs[j] < src.W) acc += wy[i] * wx[j] * s[ys[i] * src.W + xs[j]];
        // NOTE: torchvision blends a filled bilinear sample as img * mask + (1 - mask) * fill.
        dst.plane(ch)[k] = masked ? acc * mask + (1.0f - mask) * fill : acc;
      }
    }
  }
  return dst;
}

void adjust_brightness(Image& img, float factor) {
  for (float& v : img.data) v = clamp01(v * factor);
}

void adjust_contrast(Image& img, float factor) {
  const int64_t HW = img.H * img.W;
  double sum = 0;
  if (img.C == 3)
    for (int64_t k = 0; k < HW; ++k) sum += gray_at(img, k);
  else
    for (float v : img.data) sum += v;
  const float mean = static_cast<float>(sum / static_cast<double>(img.C == 3 ? HW : img.data.size()));
  for (float& v : img.data) v = clamp01(factor * v + (1.0f - factor) * mean);
}

void adjust_saturation(Image& img, float factor) {
  if (img.C != 3) return;
  const int64_t HW = img.H * img.W;
  for (int64_t k = 0; k < HW; ++k) {
    const float g = gray_at(img, k);
    for (int64_t c = 0; c < 3; ++c) img.data[c * HW + k] = clamp01(factor * img.data[c * HW + k] + (1.0f - factor) * g);
  }
}

void adjust_hue(Image& img, float hue_factor) {
  if (img.C != 3) return;
  const int64_t HW = img.H * img.W;
  float* R = img.plane(0);
  float* G = img.plane(1);
  float* B = img.plane(2);
  for (int64_t k = 0; k < HW; ++k) {
    const float r = R[k], g = G[k], b = B[k];
    // torchvision _rgb2hsv
    const float maxc = std::max({r, g, b}), minc = std::min({r, g, b});
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (eqc ? 1.0f : maxc);
    const float crd = eqc ? 1.0f : cr;
    const float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    float h = maxc == r ? bc - gc : maxc == g ? 2.0f + rc - bc : 4.0f + gc - rc;
    h = std::fmod(h / 6.0f + 1.0f, 1.0f);
    // adjust_hue: (h + factor) % 1.0 (Python's modulo, non-negative)
    h = std::fmod(h + hue_factor, 1.0f);
    if (h < 0) h += 1.0f;
    // torchvision _hsv2rgb
    const float v = maxc;
    const float i = std::floor(h * 6.0f), f = h * 6.0f - i;
    const int sector = static_cast<int>(i) % 6;
    const float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f)), t = clamp01(v * (1.0f - s * (1.0f - f)));
    const float rr[6] = {v, q, p, p, t, v}, gg[6] = {t, v, v, q, p, p}, bb[6] = {p, p, t, v, v, q};
    R[k] = rr[sector], G[k] = gg[sector], B[k] = bb[sector];
  }
}

void to_grayscale(Image& img) {
  if (img.C != 3) return;
  const int64_t HW = img.H * img.W;
  for (int64_t k = 0; k < HW; ++k) {
    const float g = gray_at(img, k);
    img.data[k] = img.data[HW + k] = img.data[2 * HW + k] = g;
  }
}

void solarize(Image& img, float threshold) {
  for (float& v : img.data) v = v >= threshold ? 1.0f - v : v;
}

void posterize(Image& img, int bits) {
  const int mask = ~((1 << (8 - bits)) - 1) & 0xff;
  for (float& v : img.data) v = static_cast<float>(static_cast<int>(std::lround(clamp01(v) * 255.0f)) & mask) / 255.0f;
}

void autocontrast(Image& img) {
  const int64_t HW = img.H * img.W;
  for (int64_t c = 0; c < img.C; ++c) {
    float* p = img.plane(c);
    const auto [lo, hi] = std::minmax_element(p, p + HW);
    const float mn = *lo, mx = *hi;
    if (!(mx > mn)) continue;
    for (int64_t k = 0; k < HW; ++k) p[k] = clamp01((p[k] - mn) / (mx - mn));
  }
}

void equalize(Image& img) {
  // PIL's ImageOps.equalize, as torchvision's tensor version: a lookup table from the cumulative
  // histogram, with step = (pixels - count of the last used value) / 255; step 0 leaves the (8-bit) values.
  const int64_t HW = img.H * img.W;
  for (int64_t c = 0; c < img.C; ++c) {
    float* p = img.plane(c);
    int64_t hist[256] = {0};
    for (int64_t k = 0; k < HW; ++k) ++hist[std::lround(clamp01(p[k]) * 255.0f)];
    int64_t last = 255;
    while (last > 0 && hist[last] == 0) --last;
    const int64_t step = (HW - hist[last]) / 255;
    float lut[256];
    int64_t cum = 0;
    for (int v = 0; v < 256; ++v) {  // lut[v] uses the count of values below v; step 0: identity
      lut[v] = step == 0 ? static_cast<float>(v) / 255.0f
                         : static_cast<float>(std::min<int64_t>((cum + step / 2) / step, 255)) / 255.0f;
      cum += hist[v];
    }
    for (int64_t k = 0; k < HW; ++k) p[k] = lut[std::lround(clamp01(p[k]) * 255.0f)];
  }
}

void adjust_sharpness(Image& img, float factor) {
  if (img.H <= 2 || img.W <= 2) return;
  const int64_t H = img.H, W = img.W;
  std::vector<float> blur(static_cast<size_t>(H * W));
  for (int64_t c = 0; c < img.C; ++c) {
    float* p = img.plane(c);
    std::copy(p, p + H * W, blur.begin());
    for (int64_t y = 1; y < H - 1; ++y)
      for (int64_t x = 1; x < W - 1; ++x) {
        float s = 4.0f * p[y * W + x];
        for (int64_t dy = -1; dy <= 1; ++dy)
          for (int64_t dx = -1; dx <= 1; ++dx) s += p[(y + dy) * W + x + dx];
        blur[y * W + x] = s / 13.0f;  // kernel [[1,1,1],[1,5,1],[1,1,1]] / 13
      }
    for (int64_t k = 0; k < H * W; ++k) p[k] = clamp01(factor * p[k] + (1.0f - factor) * blur[k]);
  }
}

void erase(Image& img, int64_t top, int64_t left, int64_t h, int64_t w, float value) {
  const int64_t y0 = std::max<int64_t>(top, 0), y1 = std::min(top + h, img.H);
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + w, img.W);
  for (int64_t c = 0; c < img.C; ++c)
    for (int64_t y = y0; y < y1; ++y) std::fill(img.plane(c) + y * img.W + x0, img.plane(c) + y * img.W + std::max(x0, x1), value);
}

}  // namespace cvtrain
