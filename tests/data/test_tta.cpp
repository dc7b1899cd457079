// Test-time augmentation views: counts, sizes, the center crop of 5crop is the image itself, the
// corner crops are shifted copies, 10crop adds mirrors, and a bad mode is an InputError.
#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/tta.h"

namespace cvtrain {
namespace {

Image ramp(int64_t C, int64_t H, int64_t W) {
  Image img = make_image(C, H, W);
  for (size_t k = 0; k < img.data.size(); ++k) img.data[k] = static_cast<float>(k + 1) / static_cast<float>(img.data.size());
  return img;
}

TEST(Tta, ViewsOfEachMode) {
  const Image img = ramp(3, 6, 7);
  EXPECT_EQ(tta_views(img, "none", 2).size(), 1u);
  const auto flip = tta_views(img, "flip", 2);
  ASSERT_EQ(flip.size(), 2u);
  EXPECT_EQ(flip[0].data, img.data);
  EXPECT_EQ(flip[1].data[6], img.data[0]);  // mirrored first row
  const auto five = tta_views(img, "5crop", 2);
  ASSERT_EQ(five.size(), 5u);
  for (const Image& v : five) EXPECT_EQ(std::make_tuple(v.C, v.H, v.W), std::make_tuple(int64_t{3}, int64_t{6}, int64_t{7}));
  EXPECT_EQ(five[4].data, img.data);  // center window of the padded image
  // top-left window: the image shifted down-right by 2, zeros entering
  EXPECT_EQ(five[0].data[0], 0.0f);
  EXPECT_EQ(five[0].data[2 * 7 + 2], img.data[0]);
  // bottom-right: shifted up-left by 2
  EXPECT_EQ(five[3].data[0], img.data[2 * 7 + 2]);
  const auto ten = tta_views(img, "10crop", 2);
  ASSERT_EQ(ten.size(), 10u);
  Image back = ten[9];
  hflip(back);
  EXPECT_EQ(back.data, ten[4].data);
  EXPECT_THROW(tta_views(img, "3crop", 2), InputError);
  EXPECT_EQ(tta_view_count("10crop"), 10);
}

}  // namespace
}  // namespace cvtrain
