// Augmentations: kernels against torchvision.transforms.functional (fixtures from
// tests/fixtures/record_augment.py, tolerance 2e-5 absolute: f32 rounding of the same formulas),
// invariants of the random transforms, parameter validation, mixing, and PCA color statistics.
#include <cmath>
#include <map>
#include <numeric>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/augment.h"

namespace cvtrain {
namespace {

constexpr float kTol = 2e-5f;

Image image_of(const Tensor& t) {  // (C,H,W) f32 fixture -> Image
  Image img = make_image(t.size(0), t.size(1), t.size(2));
  const float* p = t.data<float>();
  std::copy(p, p + t.numel(), img.data.begin());
  return img;
}

Tensor tensor_of(const Image& img) {
  Tensor t = Tensor::empty({img.C, img.H, img.W}, DType::f32);
  std::copy(img.data.begin(), img.data.end(), t.data<float>());
  return t;
}

class TorchvisionFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchvisionFixture, MatchesFunctional) {
  static const auto fx = testing::load_fixture("augment");
  const std::string ch = GetParam();
  const Image in = image_of(fx.at("in" + ch));
  auto expect = [&](const std::string& key, const Image& got) {
    SCOPED_TRACE(key);
    const Tensor& want = fx.at(key);
    ASSERT_EQ(Shape({got.C, got.H, got.W}), want.shape());
    EXPECT_TRUE(testing::all_close(tensor_of(got), want, kTol, 0));
  };
  auto with = [&](auto fn) {
    Image img = in;
    fn(img);
    return img;
  };
  expect("hflip" + ch, with([](Image& i) { hflip(i); }));
  expect("vflip" + ch, with([](Image& i) { vflip(i); }));
  expect("pad_crop_constant" + ch, pad_crop(in, 3, PadMode::zero, 2, 5, 8, 10));
  expect("pad_crop_reflect" + ch, pad_crop(in, 3, PadMode::reflect, 2, 5, 8, 10));
  expect("pad_crop_edge" + ch, pad_crop(in, 3, PadMode::edge, 2, 5, 8, 10));
  expect("resized_crop_up" + ch, resized_crop(in, 1, 2, 6, 7, 13, 5));
  expect("resized_crop_down" + ch, resized_crop(in, 0, 1, 9, 10, 4, 6));
  expect("resize_center" + ch, center_crop(resize_shorter(in, 12), 7, 8));
  expect("affine" + ch, affine(in, 30, 1, -2, 1.2, 10, 5, Interp::bilinear, 0));
  expect("affine_fill" + ch, affine(in, -20, 2, 1, 0.8, 0, 0, Interp::bilinear, 0.5f));
  expect("rotate" + ch, affine(in, -25, 0, 0, 1, 0, 0, Interp::bilinear, 0));
  expect("translate" + ch, affine(in, 0, 2, -3, 1, 0, 0, Interp::nearest, 0));
  expect("brightness" + ch, with([](Image& i) { adjust_brightness(i, 1.3f); }));
  expect("contrast" + ch, with([](Image& i) { adjust_contrast(i, 0.6f); }));
  expect("sharpness" + ch, with([](Image& i) { adjust_sharpness(i, 1.8f); }));
  expect("solarize" + ch, with([](Image& i) { solarize(i, 0.6f); }));
  expect("autocontrast" + ch, with([](Image& i) { autocontrast(i); }));
  expect("posterize" + ch, with([](Image& i) { posterize(i, 3); }));
  expect("equalize" + ch, with([](Image& i) { equalize(i); }));
  expect("erase" + ch, with([](Image& i) { erase(i, 2, 3, 4, 5, 0.5f); }));
  if (ch == "3") {
    expect("saturation3", with([](Image& i) { adjust_saturation(i, 1.7f); }));
    expect("hue3_pos", with([](Image& i) { adjust_hue(i, 0.2f); }));
    expect("hue3_neg", with([](Image& i) { adjust_hue(i, -0.35f); }));
    expect("grayscale3", with([](Image& i) { to_grayscale(i); }));
  }
}

INSTANTIATE_TEST_SUITE_P(Channels, TorchvisionFixture, ::testing::Values("3", "1"));

TEST(Equalize, MatchesTorchvisionOnAnImageLargeEnoughToChange) {
  static const auto fx = testing::load_fixture("augment");
  Image img = image_of(fx.at("in_big3"));
  const Image before = img;
  equalize(img);
  EXPECT_TRUE(testing::all_close(tensor_of(img), fx.at("equalize_big3"), kTol, 0));
  EXPECT_FALSE(testing::all_close(tensor_of(img), tensor_of(before), 1.0f / 255, 0));  // it did change
}

Image random_image(int64_t C, int64_t H, int64_t W, uint64_t seed) {
  Image img = make_image(C, H, W);
  SampleRng rng(seed, 0, 0);
  for (float& v : img.data) v = rng.uniform();
  return img;
}

AugmentSpec spec(const std::string& name, double p = 1.0, std::map<std::string, std::string> params = {}) {
  return {name, p, std::move(params)};
}

TEST(Augment, FlipTwiceIsIdentity) {
  const Image img = random_image(3, 7, 10, 1);
  Image a = img;
  hflip(a);
  EXPECT_NE(a.data, img.data);
  hflip(a);
  EXPECT_EQ(a.data, img.data);
  vflip(a);
  EXPECT_NE(a.data, img.data);
  vflip(a);
  EXPECT_EQ(a.data, img.data);
}

TEST(Augment, CropSizes) {
  const Image img = random_image(1, 28, 28, 2);
  for (const char* mode : {"zero", "reflect", "edge"}) {
    AugmentPipeline p({spec("crop", 1, {{"size", "24"}, {"padding", "4"}, {"padding_mode", mode}})});
    int64_t H = 28, W = 28;
    p.out_size(H, W);
    EXPECT_EQ(H, 24);
    for (uint64_t i = 0; i < 20; ++i) {
      const Image out = p.run(img, 7, 0, i);
      EXPECT_EQ(out.H, 24);
      EXPECT_EQ(out.W, 24);
    }
  }
  AugmentPipeline rrc({spec("random_resized_crop", 1, {{"size", "16"}})});
  for (uint64_t i = 0; i < 20; ++i) EXPECT_EQ(rrc.run(img, 7, 0, i).H, 16);
  AugmentPipeline rcc({spec("resize_center_crop", 1, {{"resize", "32"}, {"size", "30"}})});
  int64_t H = 28, W = 56;
  rcc.out_size(H, W);
  EXPECT_EQ(H, 30);
  EXPECT_EQ(W, 30);
}

TEST(Augment, PaddedCropOfZeroPaddingKeepsAWindowOfTheImage) {
  // With padding 0 and the input size, crop is the identity.
  const Image img = random_image(3, 9, 9, 3);
  AugmentPipeline p({spec("crop", 1, {{"padding", "0"}})});
  EXPECT_EQ(p.run(img, 1, 0, 0).data, img.data);
}

TEST(Augment, ErasedAreaDistribution) {
  // RandomErasing: area fraction ~ U(scale) up to rounding, when it fits.
  const Image img = make_image(1, 64, 64, 1.0f);
  AugmentPipeline p({spec("erasing", 1, {{"scale", "[0.1, 0.3]"}, {"ratio", "[0.5, 2]"}})});
  double sum = 0, lo = 1, hi = 0;
  const int n = 400;
  for (int i = 0; i < n; ++i) {
    const Image out = p.run(img, 11, 0, i);
    const double erased = std::count(out.data.begin(), out.data.end(), 0.0f) / double(64 * 64);
    sum += erased, lo = std::min(lo, erased), hi = std::max(hi, erased);
  }
  EXPECT_NEAR(sum / n, 0.2, 0.01);
  EXPECT_GT(lo, 0.08);
  EXPECT_LT(hi, 0.33);
}

TEST(Augment, ProbabilityIsRespected) {
  const Image img = random_image(1, 8, 8, 4);
  AugmentPipeline p({spec("hflip", 0.3)});
  int flipped = 0;
  for (int i = 0; i < 2000; ++i) flipped += p.run(img, 5, 0, i).data != img.data;
  EXPECT_NEAR(flipped / 2000.0, 0.3, 0.04);
}

// An entry without p takes torchvision's default for the same transform: {name: hflip} flips half
// the images, as RandomHorizontalFlip() does, and crops always apply.
TEST(Augment, MissingProbabilityIsTorchvisionsDefault) {
  const std::map<std::string, double> torchvision = {{"hflip", 0.5}, {"vflip", 0.5}, {"erasing", 0.5}, {"grayscale", 0.1}};
  for (const TransformDef& t : augment_registry()) {
    auto it = torchvision.find(t.name);
    EXPECT_EQ(t.default_p, it == torchvision.end() ? 1.0 : it->second) << t.name;
  }
  const Image img = random_image(1, 8, 8, 4);
  AugmentSpec flip;
  flip.name = "hflip";  // p left out
  AugmentPipeline p({flip});
  int flipped = 0;
  for (int i = 0; i < 2000; ++i) flipped += p.run(img, 5, 0, i).data != img.data;
  EXPECT_NEAR(flipped / 2000.0, 0.5, 0.04);
}

TEST(Augment, DeterministicPerSampleAndVariesWithEpochAndIndex) {
  const Image img = random_image(3, 16, 16, 5);
  AugmentPipeline p({spec("crop", 1, {{"padding", "2"}}), spec("color_jitter", 1, {{"brightness", "0.4"}, {"hue", "0.1"}}),
                     spec("rotate", 1), spec("erasing", 0.5)});
  EXPECT_EQ(p.run(img, 1, 2, 3).data, p.run(img, 1, 2, 3).data);
  EXPECT_NE(p.run(img, 1, 2, 3).data, p.run(img, 1, 3, 3).data);
  EXPECT_NE(p.run(img, 1, 2, 3).data, p.run(img, 1, 2, 4).data);
  EXPECT_NE(p.run(img, 1, 2, 3).data, p.run(img, 2, 2, 3).data);
}

TEST(Augment, EveryRegisteredTransformRunsOnOneAndThreeChannels) {
  ColorPCA pca1{{0.01f}, {1.0f}}, pca3{{0.02f, 0.01f, 0.001f}, {1, 0, 0, 0, 1, 0, 0, 0, 1}};
  for (const TransformDef& t : augment_registry()) {
    for (int64_t C : {1, 3}) {
      SCOPED_TRACE(std::string(t.name) + " C=" + std::to_string(C));
      AugmentPipeline p({spec(t.name)});
      p.set_color_pca(C == 1 ? pca1 : pca3);
      int64_t H = 12, W = 14;
      p.out_size(H, W);
      for (uint64_t i = 0; i < 5; ++i) {
        const Image out = p.run(random_image(C, 12, 14, i), 3, 0, i);
        EXPECT_EQ(out.C, C);
        EXPECT_EQ(out.H, H);
        EXPECT_EQ(out.W, W);
        for (float v : out.data) ASSERT_TRUE(v >= 0 && v <= 1) << v;
      }
    }
  }
}

TEST(Augment, BadSpecsNameTheEntryAndParameter) {
  auto message = [](const std::vector<AugmentSpec>& specs) { return testing::input_error_of([&] { AugmentPipeline p(specs); }); };
  EXPECT_NE(message({spec("hflip"), spec("hflip"), spec("crop", 1, {{"scale", "2"}})}).find("data.augment[2].scale"), std::string::npos);
  EXPECT_NE(message({spec("random_resized_crop", 1, {{"scale", "[0.5, 2]"}})}).find("data.augment[0].scale"), std::string::npos);
  EXPECT_NE(message({spec("random_resized_crop", 1, {{"scale", "[0.9, 0.5]"}})}).find("reversed"), std::string::npos);
  EXPECT_NE(message({spec("crop", 1, {{"padding_mode", "wrap"}})}).find("zero|reflect|edge"), std::string::npos);
  EXPECT_NE(message({spec("crop", 1, {{"padding", "abc"}})}).find("data.augment[0].padding"), std::string::npos);
  EXPECT_NE(message({spec("flip")}).find("data.augment[0].name"), std::string::npos);
  EXPECT_NE(message({spec("hflip", 1.5)}).find("data.augment[0].p"), std::string::npos);
  EXPECT_EQ(message({spec("rotate", 1, {{"degrees", "10"}})}), "");
}

// A parameter that the entry's mode never reads is refused in a config a user writes.
TEST(Augment, ParametersTheModeDoesNotReadAreRefused) {
  auto message = [](const std::vector<AugmentSpec>& specs) { return testing::input_error_of([&] { check_params_read(specs); }); };
  EXPECT_NE(message({spec("hflip"), spec("erasing", 1, {{"mode", "random"}, {"value", "0.5"}})})
                .find("data.augment[1].value: no effect with mode random"),
            std::string::npos);
  EXPECT_EQ(message({spec("erasing", 1, {{"mode", "constant"}, {"value", "0.5"}})}), "");
  EXPECT_EQ(message({spec("erasing", 1, {{"mode", "random"}})}), "");
}

// What one-channel images cannot show is refused once the data's channels are known.
TEST(Augment, ColorStepsOnOneChannelAreRefused) {
  auto message = [](const std::vector<AugmentSpec>& specs, int64_t channels) {
    return testing::input_error_of([&] { AugmentPipeline(specs).check_channels(channels); });
  };
  EXPECT_NE(message({spec("hflip"), spec("grayscale")}, 1).find("data.augment[1]: grayscale has no effect on 1-channel"),
            std::string::npos);
  EXPECT_NE(message({spec("color_jitter", 1, {{"brightness", "0.4"}, {"hue", "0.1"}})}, 1).find("data.augment[0].hue"),
            std::string::npos);
  EXPECT_NE(message({spec("color_jitter", 1, {{"saturation", "0.4"}})}, 1).find("data.augment[0].saturation"),
            std::string::npos);
  EXPECT_EQ(message({spec("color_jitter", 1, {{"brightness", "0.4"}, {"contrast", "0.4"}})}, 1), "");
  EXPECT_EQ(message({spec("grayscale"), spec("color_jitter", 1, {{"saturation", "0.4"}, {"hue", "0.1"}})}, 3), "");
}

TEST(Augment, RangeGivenAsOneNumberIsSymmetricWhenNegativeAllowed) {
  AugmentPipeline p({spec("rotate", 1, {{"degrees", "10"}}), spec("random_resized_crop", 1, {{"scale", "0.5"}})});
  EXPECT_EQ(p.steps()[0].params.at("degrees").nums, (std::vector<double>{-10, 10}));
  EXPECT_EQ(p.steps()[1].params.at("scale").nums, (std::vector<double>{0.5, 0.5}));
}

TEST(Mix, MixupLambdaFollowsBeta) {
  // Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)).
  for (double a : {0.2, 1.0}) {
    double sum = 0, sq = 0;
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
      SampleRng rng(9, 0, i, 1);
      const double l = rng.beta(a, a);
      ASSERT_TRUE(l >= 0 && l <= 1);
      sum += l, sq += l * l;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.02) << a;
    EXPECT_NEAR(var, 1.0 / (4 * (2 * a + 1)), 0.01) << a;
  }
}

TEST(Mix, SoftTargetsAndPixelsAgree) {
  const int64_t B = 4, C = 1, H = 8, W = 8, K = 3;
  for (int mode = 0; mode < 2; ++mode) {
    MixSpec spec;
    (mode == 0 ? spec.mixup_alpha : spec.cutmix_alpha) = 1.0;
    std::vector<float> x(B * C * H * W);
    for (int64_t b = 0; b < B; ++b) std::fill(x.begin() + b * 64, x.begin() + (b + 1) * 64, float(b));
    const int64_t y[B] = {0, 1, 2, 1};
    std::vector<float> soft(B * K);
    SampleRng rng(1, 0, mode, 1);
    const double lam = mix_batch(spec, x.data(), y, soft.data(), B, C, H, W, K, rng);
    for (int64_t b = 0; b < B; ++b) {
      EXPECT_NEAR(std::accumulate(soft.begin() + b * K, soft.begin() + (b + 1) * K, 0.0), 1.0, 1e-6);
      // The mean pixel of a constant image b mixed with B-1-b is lam b + (1-lam)(B-1-b) in both modes.
      const double mean = std::accumulate(x.begin() + b * 64, x.begin() + (b + 1) * 64, 0.0) / 64;
      EXPECT_NEAR(mean, lam * b + (1 - lam) * (B - 1 - b), 1e-5) << "mode " << mode;
    }
    EXPECT_NEAR(soft[0 * K + 0], lam, 1e-6);
    EXPECT_NEAR(soft[0 * K + 1], 1 - lam, 1e-6);  // paired with sample 3 (label 1)
  }
}

TEST(ColorPca, FitsCovarianceOfKnownData) {
  // Two channels, c1 = 255 - c0: covariance [[v, -v], [-v, v]] -> eigenvalues {2v, 0}.
  Tensor images = Tensor::empty({2, 2, 1, 2}, DType::u8);
  uint8_t* p = images.data<uint8_t>();
  const uint8_t c0[4] = {0, 255, 0, 255};
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 2; ++k) p[(i * 2 + 0) * 2 + k] = c0[i * 2 + k], p[(i * 2 + 1) * 2 + k] = 255 - c0[i * 2 + k];
  const ColorPCA pca = fit_color_pca(images);
  EXPECT_NEAR(pca.eigval[0], 0.5, 1e-6);  // v = 0.25
  EXPECT_NEAR(pca.eigval[1], 0.0, 1e-6);
  EXPECT_NEAR(std::abs(pca.eigvec[0 * 2 + 0]), std::sqrt(0.5), 1e-6);
  EXPECT_NEAR(pca.eigvec[0 * 2 + 0], -pca.eigvec[1 * 2 + 0], 1e-6);
}

}  // namespace
}  // namespace cvtrain
