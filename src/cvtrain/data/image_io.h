// Reading PNG (libpng) and JPEG (libjpeg-turbo) files into planar u8 images, and writing PNG.
// Failures are InputErrors naming the file, so a folder loader can skip or stop on them. Not a
// dataset (image_folder.h) and no resizing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cvtrain {

struct U8Image {
  int64_t C = 0, H = 0, W = 0;  // C is 1 (gray) or 3 (RGB)
  std::vector<uint8_t> data;    // (C,H,W)
};

// Decodes by content (PNG or JPEG signature), not by extension. Gray and gray+alpha give C=1,
// colour (with or without alpha, palette included) gives C=3; alpha is dropped.
U8Image read_image(const std::string& path);
// (C,H,W) u8 with C 1 or 3 encoded as an 8-bit PNG in memory (TensorBoard image summaries).
std::string encode_png(const U8Image& img);
// Writes (C,H,W) u8 with C 1 or 3 as an 8-bit PNG (atomically: a temporary file, then rename).
void write_png(const std::string& path, const U8Image& img);
// Writes (C,H,W) u8 with C 1 or 3 as a baseline JPEG of the given quality (tests, examples).
void write_jpeg(const std::string& path, const U8Image& img, int quality = 90);

}  // namespace cvtrain
