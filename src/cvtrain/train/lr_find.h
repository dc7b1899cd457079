// The learning-rate range test (Smith 2017, "Cyclical learning rates", sec. 3.3; fastai's lr_find):
// train from the config's starting weights while the lr grows exponentially from min_lr to max_lr
// over `steps` optimizer steps, record the loss, smooth it, and suggest the lr where the smoothed loss
// falls fastest (per unit of log lr), before the minimum. Stops early once the smoothed loss exceeds
// `diverge` times its minimum. Not a schedule: the run it measures is thrown away.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

struct LrFindOptions {
  double min_lr = 1e-6, max_lr = 10.0;
  int64_t steps = 200;
  double smoothing = 0.9;   // the loss's exponential moving average (bias-corrected; 10 steps of lag)
  double diverge = 4.0;     // stop when the smoothed loss exceeds this times its minimum
};

struct LrFindResult {
  std::vector<double> lr, loss, smoothed;  // per optimizer step taken
  double suggested_lr = 0;    // steepest descent of the smoothed loss in log lr
  double min_loss_lr = 0;     // where the smoothed loss is lowest
  std::string why;            // one sentence on how the suggestion was read off the curve
};

// `model` is trained in place (build a fresh one for the real run). `train`: the training split;
// `preprocess`: a fitted data.preprocess other than "channel" (null: the per-channel normalization).
// The lrs recorded and suggested are optim.lr values: with optim.scale_lr the sweep's actual lr is
// that times the scaling factor, as in training.
LrFindResult lr_find(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train,
                     const Normalization& norm, const LrFindOptions& o, const Preprocess* preprocess = nullptr);

// The result as JSON (lr, loss, smoothed, suggested_lr, min_loss_lr, why).
std::string lr_find_json(const LrFindResult& r);

}  // namespace cvtrain
