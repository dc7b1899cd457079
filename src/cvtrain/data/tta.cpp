// TTA views from the transforms.h kernels.
#include "cvtrain/data/tta.h"

#include "cvtrain/base/error.h"

namespace cvtrain {

int64_t tta_view_count(const std::string& mode) {
  if (mode == "none") return 1;
  if (mode == "flip") return 2;
  if (mode == "5crop") return 5;
  if (mode == "10crop") return 10;
  fail_input("--tta: expected none, flip, 5crop or 10crop, got '", mode, "'");
}

std::vector<Image> tta_views(const Image& img, const std::string& mode, int64_t pad) {
  const int64_t n = tta_view_count(mode);
  std::vector<Image> views;
  if (n <= 2) {
    views.push_back(img);
    if (n == 2) {
      views.push_back(img);
      hflip(views.back());
    }
    return views;
  }
  CHECK(pad >= 0, "tta_views: pad ", pad);
  const int64_t offsets[5][2] = {{0, 0}, {0, 2 * pad}, {2 * pad, 0}, {2 * pad, 2 * pad}, {pad, pad}};
  for (const auto& o : offsets) views.push_back(pad_crop(img, pad, PadMode::zero, o[0], o[1], img.H, img.W));
  if (n == 10)
    for (int k = 0; k < 5; ++k) {
      views.push_back(views[k]);
      hflip(views.back());
    }
  return views;
}

}  // namespace cvtrain
