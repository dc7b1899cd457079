// The learning-rate range test on the trainer: the config's optimizer and loader with an exponential
// lr schedule of our own (FitParts), the loss read from the step hook.
#include "cvtrain/train/lr_find.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain {

namespace {

constexpr size_t kMinSteps = 10;  // fewer is no curve

// The step where the smoothed loss drops fastest per unit of log lr, among the steps before its
// minimum (a few steps of warm-up skipped: the first averages are noisy).
size_t steepest(const std::vector<double>& lr, const std::vector<double>& s, size_t until) {
  size_t best = 0;
  double best_slope = 0;
  for (size_t i = std::min<size_t>(5, until); i + 1 <= until && i + 1 < s.size(); ++i) {
    const double slope = (s[i + 1] - s[i]) / (std::log(lr[i + 1]) - std::log(lr[i]));
    if (slope < best_slope) best_slope = slope, best = i;
  }
  return best;
}

}  // namespace

LrFindResult lr_find(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train,
                     const Normalization& norm, const LrFindOptions& o, const Preprocess* preprocess) {
  if (!(o.min_lr > 0 && o.max_lr > o.min_lr)) fail_input("lr-find: want 0 < --min-lr < --max-lr");
  if (o.steps < 10 || o.steps > 100000) fail_input("lr-find: --steps must be in [10, 100000]");
  RunConfig c = cfg;
  c.train.max_steps = o.steps;
  c.train.epochs = 100000;  // the steps decide; the schedule is ours
  c.train.eval_every = 100000;
  FitParts parts = make_fit_parts(ctx, model, c, train);
  const double ratio = std::log(o.max_lr / o.min_lr) / static_cast<double>(o.steps - 1);
  const float momentum = parts.optimizer->base_momentum();
  // optim.lr values, scaled as training scales them (optim.scale_lr with the global batch)
  const double scale = optim::scaled_lr(1.0, c.schedule.scale_lr, c.train.batch_size * c.train.accumulate_steps,
                                        c.schedule.base_batch_size);
  parts.schedule = [=](int64_t step) {
    const double lr = o.min_lr * std::exp(ratio * static_cast<double>(step));
    return optim::ScheduleValue{static_cast<float>(lr * scale), momentum};
  };
  LrFindResult r;
  double avg = 0, best = INFINITY;
  TrainHooks hooks;
  hooks.on_step = [&](const StepInfo& s) {  // after every batch: with accumulation, once per step
    if (static_cast<int64_t>(r.lr.size()) >= s.step) return;
    avg = o.smoothing * avg + (1 - o.smoothing) * s.loss;
    const double smoothed = avg / (1 - std::pow(o.smoothing, static_cast<double>(r.lr.size() + 1)));
    r.lr.push_back(s.lr / scale), r.loss.push_back(s.loss), r.smoothed.push_back(smoothed);
    best = std::min(best, smoothed);
  };
  // asked after each step, before that step's loss is recorded; the first 10 steps always run
  hooks.should_stop = [&] {
    return r.smoothed.size() >= kMinSteps && (r.smoothed.back() > o.diverge * best || !std::isfinite(r.smoothed.back()));
  };
  Dataset one;  // the loop ends with an evaluation: one image keeps it cheap
  one.images = train.images.slice(0, 0, 1), one.labels = train.labels.slice(0, 0, 1), one.class_names = train.class_names;
  try {
    RunOutput out;
    out.preprocess = preprocess && !preprocess->is_channel() ? preprocess : nullptr;
    fit(ctx, model, c.train, parts, train, nullptr, one, norm, hooks, out);
  } catch (const InputError& e) {  // a loss that turns NaN late is the curve's end, not an error
    if (r.lr.size() < kMinSteps)
      fail_input("lr-find: the loss diverged after ", r.lr.size(), " steps; lower --min-lr (", e.what(), ")");
  }
  if (r.lr.size() < kMinSteps) fail_input("lr-find: the loss diverged after ", r.lr.size(), " steps; lower --min-lr");
  const size_t at_min = static_cast<size_t>(std::min_element(r.smoothed.begin(), r.smoothed.end()) - r.smoothed.begin());
  const size_t steep = steepest(r.lr, r.smoothed, at_min);
  r.min_loss_lr = r.lr[at_min];
  if (at_min < kMinSteps / 2) {  // the loss never fell: nothing to read off
    r.suggested_lr = 0;
    r.why = "the smoothed loss did not fall in the sweep (lowest at lr " + std::to_string(r.min_loss_lr) +
            ", step " + std::to_string(at_min + 1) + "); start lower (--min-lr)";
    return r;
  }
  r.suggested_lr = r.lr[steep];
  char why[256];
  std::snprintf(why, sizeof why,
                "the smoothed loss falls fastest at lr %.3g (%.3g -> %.3g) and is lowest at lr %.3g; a tenth of "
                "the latter is %.3g",
                r.suggested_lr, r.smoothed[steep], r.smoothed[std::min(steep + 1, r.smoothed.size() - 1)], r.min_loss_lr,
                r.min_loss_lr / 10);
  r.why = why;
  return r;
}

std::string lr_find_json(const LrFindResult& r) {
  const nlohmann::json j = {{"lr", r.lr},
                            {"loss", r.loss},
                            {"smoothed", r.smoothed},
                            {"suggested_lr", r.suggested_lr},
                            {"min_loss_lr", r.min_loss_lr},
                            {"why", r.why}};
  return j.dump();
}

}  // namespace cvtrain
