// Augmentations: the registry of per-image random transforms (one visible table, augment.cpp), the
// per-sample random stream they draw from, a validated pipeline built from the config's
// `data.augment` list, and batch-level mixup / CutMix with soft targets. Images are planar f32 in
// [0,1] (transforms.h); u8 images convert on entry. Not the loader (loader.h) nor the kernels.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cvtrain/base/philox.h"
#include "cvtrain/data/augment_spec.h"
#include "cvtrain/data/transforms.h"
#include "cvtrain/tensor/tensor.h"

namespace cvtrain {

// The random stream of one sample: Philox keyed by the seed, counter (domain, epoch, index), so the
// draws of an image depend on (seed, epoch, index) only, never on the thread that makes it.
class SampleRng {
 public:
  SampleRng(uint64_t seed, uint64_t epoch, uint64_t index, uint64_t domain = 0);
  uint32_t next_u32();
  float uniform() { return philox_to_unit(next_u32()); }  // [0,1)
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  int64_t below(int64_t n);   // [0, n)
  float normal();             // N(0,1), Box-Muller
  double gamma(double shape);  // Gamma(shape, 1), Marsaglia & Tsang 2000
  double beta(double a, double b);

 private:
  uint64_t key_, hi_, block_ = 0;
  uint32_t buf_[4] = {0, 0, 0, 0};
  int lane_ = 4;
};

// Statistics a transform fits on the training set (AlexNet's PCA color noise, Krizhevsky et al. 2012
// sec. 4.1): eigenvalues and unit eigenvectors of the (C,C) pixel covariance in [0,1] units.
struct ColorPCA {
  std::vector<float> eigval;  // (C), descending
  std::vector<float> eigvec;  // (C,C), column k is eigenvector k
  bool empty() const { return eigval.empty(); }
};
// images: (N,C,H,W) u8. Exact for any thread count (integer sums).
ColorPCA fit_color_pca(const Tensor& images);

// A parameter's parsed value: numbers ("4" -> {4}, "[0.08, 1.0]" -> {0.08, 1}) or a word.
struct ParamValue {
  std::vector<double> nums;
  std::string word;
  double num(size_t i = 0) const { return nums.at(std::min(i, nums.size() - 1)); }
};
using Params = std::map<std::string, ParamValue>;

struct ParamDef {
  const char* name;
  const char* def;  // default text; "a|b|c" declares a word parameter (default a), "x,y" a range
  double lo, hi;    // allowed interval of every number
  const char* doc;
  const char* read_when = nullptr;  // "mode=constant": read only when that word parameter has that value
  bool needs_rgb = false;           // a nonzero value does nothing on images without 3 channels
};

struct TransformDef {
  const char* name;
  const char* doc;
  std::vector<ParamDef> params;
  // Applies the transform (already chosen with probability p) to `img`.
  void (*apply)(Image& img, SampleRng& rng, const Params& params, const ColorPCA& pca);
  // Output (H, W) for an input (H, W); null: unchanged.
  void (*out_size)(const Params& params, int64_t& H, int64_t& W);
  double default_p = 1.0;  // probability of applying it when the entry gives no `p`
  bool needs_rgb = false;  // does nothing on images without 3 channels
};

// The registry: every augmentation, in the order `cvtrain augmentations` / docs list them.
const std::vector<TransformDef>& augment_registry();
const TransformDef* find_transform(const std::string& name);
// The probability an entry is applied with: its own p, or, left out (< 0), its transform's default_p.
double applied_p(const AugmentSpec& spec);

struct AugmentStep {
  const TransformDef* def;
  double p;
  Params params;
};

// Refuses, naming where[i].param, a parameter written where the entry's other parameters leave it
// unread (ParamDef::read_when). For configs a user writes; stored ones are not rechecked.
void check_params_read(const std::vector<AugmentSpec>& specs, const std::string& where = "data.augment");

class AugmentPipeline {
 public:
  AugmentPipeline() = default;
  // Validates every entry; errors are InputErrors naming `where[i].param` (where = "data.augment").
  AugmentPipeline(const std::vector<AugmentSpec>& specs, const std::string& where = "data.augment");

  bool empty() const { return steps_.empty(); }
  bool needs_color_pca() const;
  void set_color_pca(ColorPCA pca) { pca_ = std::move(pca); }
  // Refuses, naming where[i], a step or a nonzero parameter that images of `channels` channels would
  // ignore (the registry's needs_rgb).
  void check_channels(int64_t channels, const std::string& where = "data.augment") const;
  // The (H, W) of every output image for inputs of (H, W).
  void out_size(int64_t& H, int64_t& W) const;
  // Applies the steps in order, each with its probability, drawing from `rng`.
  void apply(Image& img, SampleRng& rng) const;
  // Convenience: the augmented image of sample `index` in `epoch`.
  Image run(const Image& img, uint64_t seed, uint64_t epoch, uint64_t index) const;
  const std::vector<AugmentStep>& steps() const { return steps_; }

 private:
  std::vector<AugmentStep> steps_;
  ColorPCA pca_;
};

// Batch-level mixing (mixup: Zhang et al. 2018; CutMix: Yun et al. 2019). Each batch is paired with
// itself reversed (timm's choice); lambda ~ Beta(alpha, alpha). alpha 0 turns a method off; with
// both on, each batch picks one with probability 1/2.
struct MixSpec {
  double mixup_alpha = 0.0;
  double cutmix_alpha = 0.0;
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

// Mixes x in place and writes soft targets; returns the lambda used (the weight of the original
// image, for CutMix the exact kept area fraction).
// x: (B,C,H,W) f32   y: (B) i64   soft: (B,K) f32
double mix_batch(const MixSpec& spec, float* x, const int64_t* y, float* soft, int64_t B, int64_t C, int64_t H,
                 int64_t W, int64_t K, SampleRng& rng);

}  // namespace cvtrain
