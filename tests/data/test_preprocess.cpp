// Fitted preprocessing: values against numpy (tests/fixtures/record_preprocess.py; tolerance 1e-5
// on matrices of magnitude ~10, as f32 storage allows), whitened data has identity covariance,
// ZCA keeps the data closest to the input among whitening transforms, the eigen-solver on known
// matrices, and the JSON round trip of the model-file entry.
#include <cmath>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/preprocess.h"

namespace cvtrain {
namespace {

Dataset fixture_dataset(const std::string& name) {
  static const auto fx = testing::load_fixture("preprocess");
  const Tensor& img = fx.at("images_" + name);
  Dataset ds;
  ds.name = "fixture";
  ds.images = Tensor::empty(img.shape(), DType::u8);
  ds.labels = Tensor::empty({img.size(0)}, DType::i64);
  for (int64_t i = 0; i < img.numel(); ++i) ds.images.data<uint8_t>()[i] = static_cast<uint8_t>(img.data<float>()[i]);
  for (int64_t i = 0; i < img.size(0); ++i) ds.labels.data<int64_t>()[i] = i % 2;
  ds.class_names = {"a", "b"};
  return ds;
}

std::vector<double> as_doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> as_doubles(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }

std::vector<float> raw_pixels(const Dataset& ds) {
  std::vector<float> x(static_cast<size_t>(ds.images.numel()));
  for (size_t k = 0; k < x.size(); ++k) x[k] = ds.images.data<uint8_t>()[k] / 255.0f;
  return x;
}

class PreprocessFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(PreprocessFixture, MatchesNumpy) {
  const auto fx = testing::load_fixture("preprocess");
  const std::string n = GetParam();
  const Dataset ds = fixture_dataset(n);
  const Preprocess zca = fit_preprocess(ds, "zca", 0, 1e-3);
  EXPECT_TRUE(testing::all_close(as_doubles(zca.mean), as_doubles(fx.at("mean_" + n)), 1e-6, 1e-6));
  EXPECT_TRUE(testing::all_close(zca.eigval, as_doubles(fx.at("eigval_" + n)), 1e-7, 1e-5));
  EXPECT_TRUE(testing::all_close(as_doubles(zca.matrix), as_doubles(fx.at("zca_" + n)), 1e-4, 1e-5));
  const Preprocess pw = fit_preprocess(ds, "pca_whiten", 5, 1e-3);
  EXPECT_EQ(pw.out_shape(), Shape({5, 1, 1}));
  EXPECT_TRUE(testing::all_close(as_doubles(pw.matrix), as_doubles(fx.at("pca_whiten_" + n)), 1e-4, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Shapes, PreprocessFixture, ::testing::Values("g", "c"));

// Covariance of the transformed training set.
std::vector<double> transformed_cov(const Preprocess& p, const Dataset& ds) {
  const std::vector<float> x = raw_pixels(ds);
  const int64_t N = ds.size(), K = p.out_dim();
  std::vector<float> y(static_cast<size_t>(N * K));
  apply_preprocess(p, x.data(), N, y.data());
  return covariance(y.data(), N, K);
}

TEST(Preprocess, WhitenedDataHasIdentityCovariance) {
  const Dataset ds = make_synthetic(400, 1, 8, 8, 3);  // D = 64 < N
  for (const char* mode : {"zca", "pca_whiten"}) {
    const Preprocess p = fit_preprocess(ds, mode, 0, 1e-9);
    const std::vector<double> cov = transformed_cov(p, ds);
    const int64_t K = p.out_dim();
    double worst = 0;
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j) worst = std::max(worst, std::abs(cov[i * K + j] - (i == j ? 1.0 : 0.0)));
    EXPECT_LT(worst, 2e-3) << mode;
  }
  // PCA projection decorrelates: diagonal covariance holding the eigenvalues.
  const Preprocess pca = fit_preprocess(ds, "pca", 10, 0);
  const std::vector<double> cov = transformed_cov(pca, ds);
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_NEAR(cov[i * 10 + i], pca.eigval[i], 1e-4 * pca.eigval[0]);
    for (int64_t j = 0; j < i; ++j) EXPECT_NEAR(cov[i * 10 + j], 0.0, 1e-4 * pca.eigval[0]);
  }
}

TEST(Preprocess, ZcaOnLeadingComponentsWhitensThemAndDropsTheRest) {
  const Dataset ds = make_synthetic(400, 1, 8, 8, 3);
  const Preprocess z = fit_preprocess(ds, "zca", 6, 1e-9);
  EXPECT_EQ(z.out_shape(), (Shape{1, 8, 8}));
  // The covariance after ZCA on K components is U_K U_K^T: its trace is K (whitened), its rank K.
  const std::vector<double> cov = transformed_cov(z, ds);
  double trace = 0;
  for (int64_t i = 0; i < 64; ++i) trace += cov[i * 64 + i];
  EXPECT_NEAR(trace, 6.0, 1e-2);
  const Preprocess all = fit_preprocess(ds, "zca", 0, 1e-9);
  double trace_all = 0;
  const std::vector<double> cov_all = transformed_cov(all, ds);
  for (int64_t i = 0; i < 64; ++i) trace_all += cov_all[i * 64 + i];
  EXPECT_NEAR(trace_all, 64.0, 0.2);
}

TEST(Preprocess, WhiteningMoreComponentsThanTheImagesCanEstimateWarns) {
  const Dataset ds = make_synthetic(400, 1, 8, 8, 3);  // D = 64: 400 images are 6 per component
  EXPECT_NE(whitening_warning(fit_preprocess(ds, "zca", 0, 1e-5), ds.size()), "");
  EXPECT_NE(whitening_warning(fit_preprocess(ds, "pca_whiten", 0, 1e-5), ds.size()), "");
  EXPECT_EQ(whitening_warning(fit_preprocess(ds, "pca_whiten", 40, 1e-5), ds.size()), "");  // 10 per component
  EXPECT_EQ(whitening_warning(fit_preprocess(ds, "pca", 0, 0), ds.size()), "");  // no whitening, no amplification
  const std::string w = whitening_warning(fit_preprocess(ds, "zca", 0, 1e-5), ds.size());
  EXPECT_NE(w.find("64 components from 400 training images"), std::string::npos) << w;
}

TEST(Preprocess, ZcaIsTheWhiteningClosestToTheInput) {
  // Every whitening is R W_zca with R orthogonal; ZCA minimizes E||W (x - mu) - (x - mu)||^2
  // (Kessy, Lewin & Strimmer 2018). Compare with PCA whitening and with rotated ZCA outputs.
  const Dataset ds = make_synthetic(400, 1, 8, 8, 4);
  const Preprocess zca = fit_preprocess(ds, "zca", 0, 1e-6), pcaw = fit_preprocess(ds, "pca_whiten", 0, 1e-6);
  const std::vector<float> x = raw_pixels(ds);
  const int64_t N = ds.size(), D = zca.in_dim();
  std::vector<float> yz(static_cast<size_t>(N * D)), yp(static_cast<size_t>(N * D));
  apply_preprocess(zca, x.data(), N, yz.data());
  apply_preprocess(pcaw, x.data(), N, yp.data());
  auto dist = [&](const std::vector<float>& y) {
    double s = 0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t d = 0; d < D; ++d) s += std::pow(y[i * D + d] - (x[i * D + d] - zca.mean[d]), 2);
    return s / N;
  };
  const double dz = dist(yz);
  EXPECT_LT(dz, dist(yp));
  for (double angle : {0.05, -0.3, 1.0}) {  // a Givens rotation of the coordinates (0, 1) and (2, 5)
    std::vector<float> yr = yz;
    const float c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
    for (int64_t i = 0; i < N; ++i)
      for (auto [a, b] : {std::pair<int64_t, int64_t>{0, 1}, {2, 5}}) {
        const float u = yz[i * D + a], v = yz[i * D + b];
        yr[i * D + a] = c * u - s * v, yr[i * D + b] = s * u + c * v;
      }
    EXPECT_LT(dz, dist(yr)) << angle;
  }
}

TEST(Preprocess, EigenOfKnownMatrices) {
  std::vector<double> val, vec;
  symmetric_eigen({2, 1, 1, 2}, 2, val, vec);  // eigenvalues 3, 1
  EXPECT_NEAR(val[0], 3, 1e-12);
  EXPECT_NEAR(val[1], 1, 1e-12);
  EXPECT_NEAR(vec[0], std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(vec[2], std::sqrt(0.5), 1e-12);
  symmetric_eigen({5, 0, 0, 0, 1, 0, 0, 0, 3}, 3, val, vec);
  EXPECT_EQ(val, (std::vector<double>{5, 3, 1}));
  symmetric_eigen({7}, 1, val, vec);
  EXPECT_EQ(val[0], 7);
}

TEST(Preprocess, MeanImageAndJsonRoundTrip) {
  const Dataset ds = fixture_dataset("c");
  const Preprocess p = fit_preprocess(ds, "mean_image", 0, 0);
  const Preprocess back = preprocess_from_json(preprocess_to_json(p), "test");
  EXPECT_EQ(back.mode, "mean_image");
  EXPECT_EQ(back.mean, p.mean);
  EXPECT_EQ(back.scale, p.scale);
  const Preprocess z = fit_preprocess(ds, "zca", 0, 1e-2);
  const Preprocess zb = preprocess_from_json(preprocess_to_json(z), "test");
  EXPECT_EQ(zb.matrix, z.matrix);
  EXPECT_EQ(zb.out_shape(), Shape({3, 2, 2}));
  EXPECT_THROW(preprocess_from_json("{\"mode\": \"zca\"}", "model.safetensors"), InputError);
  EXPECT_THROW(fit_preprocess(ds, "whiten", 0, 0), InputError);
  EXPECT_THROW(fit_preprocess(ds, "pca", 13, 0), InputError);
}

}  // namespace
}  // namespace cvtrain
