// Preprocessing fitted on the training set beyond per-channel mean/std (dataset.h): centering by
// the mean image, PCA projection to K components, PCA whitening and ZCA whitening with an epsilon
// (CS231n notes "Data preprocessing"; Bell & Sejnowski 1997 for ZCA). Applied to flattened images
// in [0,1] units; serialized to JSON for the model file's metadata. Not augmentation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cvtrain/data/dataset.h"

namespace cvtrain {

struct Preprocess {
  std::string mode = "channel";  // channel | mean_image | pca | pca_whiten | zca
  int64_t components = 0;        // pca, pca_whiten, zca: K leading components kept (0: all D)
  double epsilon = 1e-5;         // pca_whiten, zca: added to each eigenvalue
  int64_t C = 0, H = 0, W = 0;   // input image shape, D = C*H*W
  std::vector<float> mean;       // (D) mean image
  std::vector<float> scale;      // mean_image: (C) 1/std per channel
  std::vector<float> matrix;     // (out_dim, D): pca/pca_whiten/zca projection, row-major
  std::vector<double> eigval;    // (D) covariance eigenvalues, descending (pca modes; for reports)

  bool is_channel() const { return mode == "channel"; }
  int64_t in_dim() const { return C * H * W; }
  int64_t kept() const;  // K, the components kept
  int64_t out_dim() const;
  // The shape a model sees: (C,H,W) for mean_image and zca, (K,1,1) for pca and pca_whiten.
  Shape out_shape() const;
};

// The names of the modes, for errors and docs.
const std::vector<std::string>& preprocess_modes();

// Fits `mode` on the training images (N,C,H,W) u8. The covariance is the population covariance
// of v/255 (numpy's np.cov(x, rowvar=False, bias=True)), accumulated in double; eigenvectors by
// Householder tridiagonalization and the QL algorithm (EISPACK tred2/tql2). Deterministic.
Preprocess fit_preprocess(const Dataset& train, const std::string& mode, int64_t components, double epsilon);

// A warning when pca_whiten or zca whitens more components than the training images can estimate
// (fewer than 10 images per component): the smallest eigenvalues are then mostly sampling noise, and
// whitening amplifies them into features that do not hold on the test set. "" otherwise.
std::string whitening_warning(const Preprocess& p, int64_t n_train);

// x: (B,D) values v/255 (the raw pixels in [0,1]); out: (B,out_dim).
void apply_preprocess(const Preprocess& p, const float* x, int64_t B, float* out);

// The sample covariance (D,D) of rows x (N,D), population normalization, in double.
std::vector<double> covariance(const float* x, int64_t N, int64_t D, std::vector<double>* mean = nullptr);
// Eigen-decomposition of a symmetric (n,n) matrix: values descending, vectors as columns of `vec`.
void symmetric_eigen(const std::vector<double>& a, int64_t n, std::vector<double>& val, std::vector<double>& vec);

// JSON for the model file ("preprocess_fit" entry): float arrays base64-encoded little-endian.
std::string preprocess_to_json(const Preprocess& p);
Preprocess preprocess_from_json(const std::string& json, const std::string& origin);

}  // namespace cvtrain
