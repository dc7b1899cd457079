// The image resize (data/resize.h) against torchvision 0.14's Resize + CenterCrop on PIL images, from
// the files and outputs of tests/fixtures/record_resize.py (downscaling with antialias, upscaling,
// non-square, gray and RGB, PNG and JPEG, exact size, crop offsets, crop_fraction, channel
// conversion); the crop geometry; windows against full resizes; the fixed normalization
// (data.mean / data.std) and its checks; the memory bound.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/image_io.h"
#include "cvtrain/data/resize.h"

namespace cvtrain {
namespace {

const std::map<std::string, Tensor>& fixture() {
  static const auto fx = testing::load_fixture("resize");
  return fx;
}

U8Image read_fixture_image(const std::string& name) { return read_image(std::string(CVTRAIN_FIXTURES) + "/resize/" + name); }

// max |got - want| over a (C,H,W) u8 image and a recorded tensor of the same shape; -1 on a shape mismatch.
int max_diff(const U8Image& got, const Tensor& want) {
  if (Shape({got.C, got.H, got.W}) != want.shape()) return -1;
  int d = 0;
  for (int64_t i = 0; i < want.numel(); ++i)
    d = std::max(d, std::abs(static_cast<int>(got.data[i]) - static_cast<int>(want.data<float>()[i])));
  return d;
}

ImageSpec spec_of(std::vector<int64_t> size, int64_t channels = 0, double crop_fraction = 1.0) {
  ImageSpec s;
  s.size = std::move(size), s.channels = channels, s.crop_fraction = crop_fraction;
  return s;
}

struct Case {
  const char* key;
  const char* file;
  ImageSpec spec;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.key; }

class TorchvisionResize : public ::testing::TestWithParam<Case> {};

// Within 1/255 of torchvision, as the docs promise; Pillow's fixed-point arithmetic is reproduced, so
// the measured difference is 0 (docs/data.md).
TEST_P(TorchvisionResize, MatchesPil) {
  const Case& c = GetParam();
  const U8Image got = prepare_image(read_fixture_image(c.file), c.spec);
  const int d = max_diff(got, fixture().at(c.key));
  EXPECT_GE(d, 0) << c.key << ": shape " << got.C << "x" << got.H << "x" << got.W << " vs "
                  << shape_str(fixture().at(c.key).shape());
  EXPECT_LE(d, 1) << c.key;
  EXPECT_EQ(d, 0) << c.key << ": not bit for bit with Pillow";
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, TorchvisionResize,
    ::testing::Values(Case{"down_rgb", "rgb97x61.png", spec_of({28})}, Case{"down_gray", "gray61x97.png", spec_of({28})},
                      Case{"up_rgb", "rgb13x9.png", spec_of({32})}, Case{"up_gray_jpeg", "gray20x15.jpg", spec_of({40})},
                      Case{"rgb_jpeg", "rgb40x30.jpg", spec_of({24})},
                      Case{"exact_gray", "gray61x97.png", spec_of({20, 7})},
                      Case{"exact_rgb_up", "rgb13x9.png", spec_of({30, 50})},
                      Case{"exact_mixed", "rgb97x61.png", spec_of({40, 30})},
                      Case{"exact_same", "rgb13x9.png", spec_of({9, 13})},
                      Case{"crop_half_even", "rgb97x61.png", spec_of({16})},
                      Case{"crop_fraction", "rgb97x61.png", spec_of({28}, 0, 0.875)},
                      Case{"to_gray", "rgb97x61.png", spec_of({28}, 1)}, Case{"to_rgb", "gray61x97.png", spec_of({28}, 3)}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.key); });

TEST(Resize, TensorPathWithinOne) {  // torchvision's uint8-tensor path rounds once, from float
  const U8Image got = prepare_image(read_fixture_image("rgb97x61.png"), spec_of({28}));
  const int d = max_diff(got, fixture().at("down_rgb_tensor"));
  EXPECT_GE(d, 0);
  EXPECT_LE(d, 1);
}

TEST(Resize, JpegDecodesAsPillow) {
  for (const char* name : {"gray20x15.jpg", "rgb40x30.jpg"}) {
    std::string key = std::string("decoded_") + name;
    std::replace(key.begin(), key.end(), '.', '_');
    EXPECT_EQ(max_diff(read_fixture_image(name), fixture().at(key)), 0) << name;
  }
}

TEST(Resize, LumaIsPillowConvertL) {
  const U8Image rgb = read_fixture_image("rgb13x9.png");
  const U8Image gray = prepare_image(rgb, spec_of({}, 1));
  EXPECT_EQ(max_diff(gray, fixture().at("luma_rgb13x9_png")), 0);
}

TEST(Resize, GrayToRgbCopies) {
  const U8Image gray = read_fixture_image("gray61x97.png");
  const U8Image rgb = prepare_image(gray, spec_of({}, 3));
  ASSERT_EQ(rgb.C, 3);
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_TRUE(std::equal(gray.data.begin(), gray.data.end(), rgb.data.begin() + c * gray.H * gray.W));
}

// {RH, RW, top, left, OH, OW} of a plan.
std::vector<int64_t> geometry(const ImageSpec& spec, int64_t H, int64_t W) {
  const ResizePlan p = plan_resize(spec, H, W);
  return {p.RH, p.RW, p.top, p.left, p.OH, p.OW};
}
using G = std::vector<int64_t>;

TEST(Resize, CenterCropGeometry) {
  // torchvision: shorter side to S, longer to int(S * long / short); offsets int(round(d / 2.0)).
  EXPECT_EQ(geometry(spec_of({16}), 61, 97), (G{16, 25, 0, 4, 16, 16}));  // d = 9: round(4.5) = 4
  EXPECT_EQ(geometry(spec_of({20}), 61, 97), (G{20, 31, 0, 6, 20, 20}));  // d = 11: round(5.5) = 6
  EXPECT_EQ(geometry(spec_of({28}), 97, 61), (G{44, 28, 8, 0, 28, 28}));  // portrait
  EXPECT_EQ(geometry(spec_of({28}, 0, 0.875), 61, 97), (G{32, 50, 2, 11, 28, 28}));  // timm: floor(28 / 0.875)
  EXPECT_EQ(geometry(spec_of({20, 7}), 61, 97), (G{20, 7, 0, 0, 20, 7}));  // exact: no crop
  EXPECT_EQ(geometry(spec_of({0}), 61, 97), (G{61, 97, 0, 0, 61, 97}));  // as stored
  EXPECT_EQ(prepared_shape(spec_of({64}, 3), 1, 28, 28), Shape({3, 64, 64}));
}

TEST(Resize, WindowEqualsCroppedFullResize) {
  const U8Image img = read_fixture_image("rgb97x61.png");
  for (auto [RH, RW] : {std::pair<int64_t, int64_t>{23, 41}, {70, 120}, {61, 33}}) {
    std::vector<uint8_t> full(static_cast<size_t>(3 * RH * RW)), win(static_cast<size_t>(3 * 9 * 14), 0xAB);
    resize_bilinear_aa(img.data.data(), 3, 61, 97, RH, RW, 0, 0, RH, RW, full.data());
    const int64_t top = RH - 9 - 1, left = 5;
    resize_bilinear_aa(img.data.data(), 3, 61, 97, RH, RW, top, left, 9, 14, win.data());
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 9; ++y)
        for (int64_t x = 0; x < 14; ++x)
          ASSERT_EQ(win[(c * 9 + y) * 14 + x], full[(c * RH + top + y) * RW + left + x]) << RH << "x" << RW;
  }
}

TEST(Resize, DatasetPreparedLikeEachImage) {
  Dataset data = make_synthetic(5, 1, 28, 28, 3);
  const Tensor before = data.images.clone();
  prepare_dataset(data, spec_of({40, 36}, 3));
  ASSERT_EQ(data.images.shape(), Shape({5, 3, 40, 36}));
  for (int64_t i = 0; i < 5; ++i) {
    U8Image one{1, 28, 28, std::vector<uint8_t>(before.data<uint8_t>() + i * 784, before.data<uint8_t>() + (i + 1) * 784)};
    const U8Image want = prepare_image(one, spec_of({40, 36}, 3));
    EXPECT_TRUE(std::equal(want.data.begin(), want.data.end(), data.images.data<uint8_t>() + i * 3 * 40 * 36));
  }
}

TEST(Resize, RefusesDatasetOverTheMemoryBound) {
  Dataset data = make_synthetic(100000, 1, 8, 8, 3);  // 6.4 MB as stored; 20 TB at 8192x8192 RGB
  try {
    prepare_dataset(data, spec_of({8192}, 3));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("data.image_size: 100000 images of 3x8192x8192"), std::string::npos) << e.what();
  }
  EXPECT_EQ(data.images.shape(), Shape({100000, 1, 8, 8}));
}

TEST(FixedNormalization, UsedInsteadOfTheFittedOne) {
  const Dataset data = make_synthetic(8, 3, 28, 28, 1);
  DataOptions o;
  o.mean = {0.485, 0.456, 0.406}, o.std = {0.229, 0.224, 0.225};
  const Normalization n = normalization_for(o, data);
  EXPECT_EQ(n.mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(n.std, (std::vector<float>{0.229f, 0.224f, 0.225f}));
  o.mean.clear(), o.std.clear();
  const Normalization fitted = normalization_for(o, data);
  EXPECT_EQ(fitted.mean, fit_normalization(data).mean);
  o.mean = {0.5}, o.std = {0.25};  // one value for 3-channel images
  try {
    normalization_for(o, data);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("data.mean: 1 values for the 3-channel images"), std::string::npos) << e.what();
  }
}

TEST(FixedNormalization, ChecksNameTheKey) {
  auto refused = [](DataOptions o, const std::string& want) {
    try {
      check_options(o);
    } catch (const InputError& e) {
      return std::string(e.what()).find(want) != std::string::npos ? ::testing::AssertionSuccess()
                                                                    : ::testing::AssertionFailure() << e.what();
    }
    return ::testing::AssertionFailure() << "accepted";
  };
  DataOptions o;
  o.dataset = "synthetic", o.root = "";
  o.mean = {0.5, 0.5, 0.5};
  EXPECT_TRUE(refused(o, "data.std: data.mean and data.std go together"));
  o.std = {0.2, 0.2};
  EXPECT_TRUE(refused(o, "data.std: 2 values but data.mean has 3"));
  o.std = {0.2, 0.0, 0.2};
  EXPECT_TRUE(refused(o, "data.std: each value must be > 0"));
  o.std = {0.2, 0.2, 0.2}, o.channels = 1;
  EXPECT_TRUE(refused(o, "data.mean: 3 values for data.channels 1"));
  o.channels = 2;
  EXPECT_TRUE(refused(o, "data.channels: must be 0 (as stored), 1 or 3"));
  o.channels = 3, o.image_size = {64, 64, 3};
  EXPECT_TRUE(refused(o, "data.image_size: one number S"));
  o.image_size = {-1};
  EXPECT_TRUE(refused(o, "data.image_size: each size must be in [1, 8192]"));
  o.image_size = {64}, o.crop_fraction = 0;
  EXPECT_TRUE(refused(o, "data.crop_fraction: must be in (0, 1]"));
  o.crop_fraction = 0.875;
  EXPECT_NO_THROW(check_options(o));
}

}  // namespace
}  // namespace cvtrain
