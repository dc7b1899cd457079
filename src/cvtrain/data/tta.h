// Test-time augmentation views: the image itself, its mirror, and the multi-crop sets (Krizhevsky
// et al. 2012 sec. 4.1: four corners and the center, and their mirrors). Crops keep the input size
// by padding first (the padded-crop training of data.augment), so any model takes them. Not the
// averaging of predictions (cli/eval_tta.cpp).
#pragma once
#include <string>
#include <vector>

#include "cvtrain/data/transforms.h"

namespace cvtrain {

// "none" | "flip" | "5crop" | "10crop"; InputError naming --tta otherwise.
int64_t tta_view_count(const std::string& mode);
// The views of `img` (all the size of img): none: [img]; flip: [img, hflip]; 5crop: zero-pad by
// `pad`, then the top-left, top-right, bottom-left, bottom-right and center windows; 10crop: the
// five and their mirrors.
std::vector<Image> tta_views(const Image& img, const std::string& mode, int64_t pad);

}  // namespace cvtrain
