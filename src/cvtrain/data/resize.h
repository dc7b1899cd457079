// What an image becomes before it enters a dataset or the model (data.image_size, data.channels,
// data.crop_fraction): a channel conversion, then an antialiased bilinear resize and a center crop
// that give the pixels of torchvision 0.14's Resize + CenterCrop on a PIL image (Pillow's
// Resample.c: separable, horizontal pass first, 22-bit fixed-point weights, u8 between the passes).
// On u8 (C,H,W) images; not an augmentation (augment.h works on f32 and draws at random).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cvtrain/data/dataset.h"
#include "cvtrain/data/image_io.h"

namespace cvtrain {

struct ImageSpec {
  int64_t channels = 0;          // 0: as stored; 1 (luma) or 3 (RGB)
  std::vector<int64_t> size;     // {} or {0}: as stored; {S}: shorter side, then an SxS center crop; {H, W}: exact
  double crop_fraction = 1.0;    // with {S}: the shorter side goes to floor(S / crop_fraction) (timm's crop_pct)

  bool resizes() const { return !size.empty() && size[0] > 0; }
  bool active() const { return channels > 0 || resizes(); }
};

// The spec of data.image_size, data.channels and data.crop_fraction.
ImageSpec image_spec(const DataOptions& o);

// Where a resize + center crop lands for an (H,W) image: the resized size and the crop window in it.
struct ResizePlan {
  int64_t RH = 0, RW = 0;    // resized
  int64_t top = 0, left = 0; // crop offset in the resized image (torchvision: int(round(d / 2.0)), half to even)
  int64_t OH = 0, OW = 0;    // output
};
// With size {S}: the length the shorter side is resized to, floor(S / crop_fraction).
int64_t shorter_side_target(const ImageSpec& spec);
// torchvision's _compute_resized_output_size (shorter side: int(S * long / short)) and CenterCrop.
ResizePlan plan_resize(const ImageSpec& spec, int64_t H, int64_t W);
// The (C,H,W) an image of (C,H,W) becomes.
Shape prepared_shape(const ImageSpec& spec, int64_t C, int64_t H, int64_t W);

// Kernel: resizes src (C,H,W) u8 to (C,RH,RW) by Pillow's antialiased bilinear filter and writes the
// window rows [top, top+OH) x columns [left, left+OW) of it to dst (C,OH,OW). Only the window is
// computed; each of its pixels is the one the full resize gives. Allocates its weight tables and the
// rows between the passes.
void resize_bilinear_aa(const uint8_t* src, int64_t C, int64_t H, int64_t W, int64_t RH, int64_t RW, int64_t top,
                        int64_t left, int64_t OH, int64_t OW, uint8_t* dst);

// Kernel: src (C,HW) to dst (OC,HW) with C, OC in {1, 3}: gray -> RGB copies, RGB -> gray is Pillow's
// convert("L") (ITU-R 601-2 luma in 16-bit fixed point: (19595 R + 38470 G + 7471 B + 2^15) >> 16).
void convert_channels(const uint8_t* src, int64_t C, int64_t HW, int64_t OC, uint8_t* dst);

// The image as the spec makes it: channels converted, then resized and center-cropped.
U8Image prepare_image(const U8Image& img, const ImageSpec& spec);

// The largest prepared split load_dataset holds in memory, in bytes: half the machine's memory.
int64_t prepared_bytes_limit();
// Every image of `data` through the spec (OpenMP over images). A result over prepared_bytes_limit()
// is an InputError naming data.image_size and the bytes, before anything is allocated.
void prepare_dataset(Dataset& data, const ImageSpec& spec);

// One line for docs, errors and the ONNX doc_string: "convert to 3 channels; resize the shorter side
// to 64 (antialiased bilinear, torchvision Resize) and center-crop 64x64"; "" when inactive.
std::string describe(const ImageSpec& spec);
// JSON {"channels", "image_size", "crop_fraction", "resize"}, for the ONNX metadata_props.
std::string image_spec_json(const ImageSpec& spec);

}  // namespace cvtrain
