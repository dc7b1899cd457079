// The lecture's first two checks before any tuning ("Training Neural Networks", part 2): with the
// regularization off, the initial loss of a fresh network should be about ln(classes) (a uniform
// guess); and a handful of training images should be fit to 100% training accuracy (a network that
// cannot overfit 64 images is too small, or something is wrong). Each returns its evidence in words.
#pragma once
#include <cstdint>
#include <string>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

// `cfg` with every regularizer off: dropout, drop path, weight decay, L1, label smoothing, mixup,
// cutmix and the augmentations; what the two checks train and measure with.
RunConfig without_regularization(RunConfig cfg);

struct InitialLossCheck {
  double loss = 0;      // mean cross-entropy of a fresh network over `batches` training batches
  double expected = 0;  // ln(classes)
  bool ok = false;      // within kInitialLossTolerance of it
  std::string reading;
};
// The loss is within this fraction of ln(classes): a sane initialization guesses about uniformly.
inline constexpr double kInitialLossTolerance = 0.25;
InitialLossCheck check_initial_loss(Context& ctx, const RunConfig& cfg, const Dataset& train, const Normalization& norm,
                                    const Preprocess* preprocess, int64_t batches = 4);

struct OverfitCheck {
  int64_t images = 0, epochs = 0;  // the sample, and the epochs it took (or all of them)
  double train_acc = 0;            // on the sample, in evaluation mode, at the end
  bool ok = false;                 // reached kOverfitAcc
  std::string reading;
};
inline constexpr double kOverfitAcc = 0.999;   // ~100%: every image of the sample right
inline constexpr int64_t kOverfitImages = 64;  // 4 batches of 16
inline constexpr int64_t kOverfitEpochs = 100;
// Trains a fresh network on the first kOverfitImages training images (batch 16, the config's optimizer
// at its lr, constant, no regularization) for at most kOverfitEpochs, stopping once they are all right.
OverfitCheck check_overfit(Context& ctx, const RunConfig& cfg, const Dataset& train, const Normalization& norm,
                           const Preprocess* preprocess);

}  // namespace cvtrain
