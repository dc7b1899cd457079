// Deterministic image kernels behind the augmentations: flips, pad+crop, bilinear resized crop,
// affine warps, color adjustments, erasing. Each takes all its parameters explicitly (no randomness;
// augment.cpp draws them), and follows torchvision.transforms.functional on float tensors in [0,1],
// which tests/fixtures/record_augment.py records. Not the registry or the random parameter choice.
#pragma once
#include <cstdint>
#include <vector>

namespace cvtrain {

// One image, planar (C,H,W) f32 in [0,1] (u8 images enter through from_u8 / leave through to_u8).
struct Image {
  int64_t C = 0, H = 0, W = 0;
  std::vector<float> data;  // (C,H,W)
  float* plane(int64_t c) { return data.data() + c * H * W; }
  const float* plane(int64_t c) const { return data.data() + c * H * W; }
};

Image make_image(int64_t C, int64_t H, int64_t W, float value = 0.0f);
Image from_u8(const uint8_t* src, int64_t C, int64_t H, int64_t W);  // src: (C,H,W), v / 255
void to_u8(const Image& img, uint8_t* dst);                           // dst: (C,H,W), round(clamp(v)*255)

enum class PadMode { zero, reflect, edge };
enum class Interp { nearest, bilinear };

void hflip(Image& img);
void vflip(Image& img);

// Pads `pad` pixels on every side (torchvision F.pad: constant 0, reflect without repeating the edge,
// edge replicate), then crops (out_h, out_w) at (top, left) of the padded image.
Image pad_crop(const Image& src, int64_t pad, PadMode mode, int64_t top, int64_t left, int64_t out_h, int64_t out_w);

// Crops the box (top, left, h, w) of src and resizes it to (out_h, out_w) bilinearly with
// align_corners=False and no antialiasing: torchvision F.resized_crop(..., antialias=False).
// The box may be any part of the image; out-of-range source pixels clamp to the border.
Image resized_crop(const Image& src, int64_t top, int64_t left, int64_t h, int64_t w, int64_t out_h, int64_t out_w);
// Resize so the shorter side is `size` (torchvision F.resize(img, size), no antialiasing).
Image resize_shorter(const Image& src, int64_t size);
// The central (out_h, out_w) window; offsets round half to even as torchvision's round() does.
Image center_crop(const Image& src, int64_t out_h, int64_t out_w);

// torchvision F.affine on a tensor: rotation `angle` degrees counter-clockwise about the center,
// translation (tx, ty) pixels, `scale`, shear (shear_x, shear_y) degrees; pixels that map outside the
// source take `fill`. Bilinear matches grid_sample(align_corners=False, padding zeros) for fill 0.
Image affine(const Image& src, double angle, double tx, double ty, double scale, double shear_x, double shear_y,
             Interp interp, float fill);

// Color: the torchvision float formulas, results clamped to [0,1]. Saturation and hue leave
// 1-channel images alone (torchvision does the same).
void adjust_brightness(Image& img, float factor);
void adjust_contrast(Image& img, float factor);    // blend with the mean of the grayscale image
void adjust_saturation(Image& img, float factor);  // blend with the grayscale image
void adjust_hue(Image& img, float hue_factor);     // hue_factor in [-0.5, 0.5], via HSV
void to_grayscale(Image& img);                     // 0.2989 R + 0.587 G + 0.114 B, kept in every channel
// RandAugment / TrivialAugment colour ops (torchvision semantics on float images).
void solarize(Image& img, float threshold);  // v >= threshold -> 1 - v
void posterize(Image& img, int bits);        // keep the top `bits` of each 8-bit value
void autocontrast(Image& img);               // per channel, stretch [min, max] to [0, 1]
void equalize(Image& img);                   // per channel histogram equalization of the 8-bit values (PIL's)
void adjust_sharpness(Image& img, float factor);  // blend with the 3x3 smoothed image (border kept)

// Sets the box (top, left, h, w) to `value` (all channels); the box is clipped to the image.
void erase(Image& img, int64_t top, int64_t left, int64_t h, int64_t w, float value);

}  // namespace cvtrain
