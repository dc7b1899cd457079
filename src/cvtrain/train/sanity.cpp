// The initial-loss and overfit-a-small-sample checks (sanity.h).
#include "cvtrain/train/sanity.h"

#include <cmath>
#include <cstdio>

#include "cvtrain/data/loader.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain {

RunConfig without_regularization(RunConfig cfg) {
  cfg.model.dropout = 0.0, cfg.model.drop_path = 0.0, cfg.model.dropconnect = 0.0;
  cfg.optim.weight_decay = 0.0, cfg.optim.l1 = 0.0;
  cfg.train.label_smoothing = 0.0;
  cfg.data.mixup_alpha = 0.0, cfg.data.cutmix_alpha = 0.0;
  cfg.data.augment.clear();
  return cfg;
}

InitialLossCheck check_initial_loss(Context& ctx, const RunConfig& cfg, const Dataset& train, const Normalization& norm,
                                    const Preprocess* preprocess, int64_t batches) {
  const RunConfig c = without_regularization(cfg);
  auto model = make_model(c, train, ctx.rng, preprocess);
  model->train();  // batch norm on batch statistics, as the first step sees them; no dropout is left
  BatchLoader loader(train, norm, c.train.batch_size, /*shuffle=*/false);
  if (preprocess && !preprocess->is_channel()) loader.set_preprocess(*preprocess);
  loader.start_epoch(ctx.rng);
  NoGradGuard no_grad(ctx);
  InitialLossCheck r;
  double sum = 0;
  int64_t seen = 0;
  Batch b;
  for (int64_t i = 0; i < batches && loader.next(b); ++i) {
    const Variable loss = ops::cross_entropy(ctx, model->forward(ctx, Variable(b.x)), b.y);
    sum += static_cast<double>(loss.data().to_vector()[0]) * static_cast<double>(b.y.size(0));
    seen += b.y.size(0);
  }
  r.loss = seen ? sum / static_cast<double>(seen) : NAN;
  r.expected = std::log(static_cast<double>(train.num_classes()));
  r.ok = std::fabs(r.loss - r.expected) <= kInitialLossTolerance * r.expected;
  char text[320];
  std::snprintf(text, sizeof text,
                "the initial loss is %.3f over %lld images, against ln(%lld) = %.3f for a uniform guess: %s", r.loss,
                static_cast<long long>(seen), static_cast<long long>(train.num_classes()), r.expected,
                r.ok ? "as expected" : r.loss > r.expected ? "too high: the initial logits are too large (init scale, a "
                                                              "missing normalization)"
                                                            : "too low: the network is confident before it learned "
                                                              "(check the labels and the loss)");
  r.reading = text;
  return r;
}

OverfitCheck check_overfit(Context& ctx, const RunConfig& cfg, const Dataset& train, const Normalization& norm,
                           const Preprocess* preprocess) {
  RunConfig c = without_regularization(cfg);
  c.train.batch_size = 16, c.train.accumulate_steps = 1, c.train.epochs = kOverfitEpochs, c.train.max_steps = 0;
  c.train.ema_decay = 0, c.train.early_stop_patience = 0, c.train.eval_every = 1, c.train.progress = false;
  c.data.drop_last = false;
  c.schedule.name = "constant", c.schedule.warmup_steps = 0, c.schedule.warmup_epochs = 0, c.schedule.scale_lr = "none";
  Dataset sample;
  const int64_t n = std::min<int64_t>(kOverfitImages, train.size());
  sample.images = train.images.slice(0, 0, n), sample.labels = train.labels.slice(0, 0, n);
  sample.class_names = train.class_names, sample.name = train.name;
  auto model = make_model(c, sample, ctx.rng, preprocess);
  OverfitCheck r;
  r.images = n;
  bool done = false;
  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochMetrics& m) {  // "test" is the sample itself, in evaluation mode
    r.epochs = m.epoch, r.train_acc = m.test_acc;
    done = m.test_acc >= kOverfitAcc;
  };
  hooks.should_stop = [&] { return done; };
  RunOutput out;
  out.preprocess = preprocess && !preprocess->is_channel() ? preprocess : nullptr;
  try {
    fit(ctx, *model, c, sample, nullptr, sample, norm, hooks, out);
  } catch (const InputError& e) {  // a diverging loss is this check's finding, not an error
    r.reading = std::string("the loss diverged while fitting ") + std::to_string(n) + " images (" + e.what() +
                "): the lr is too high for this check; lower optim.lr";
    return r;
  }
  r.ok = r.train_acc >= kOverfitAcc;
  char text[320];
  std::snprintf(text, sizeof text, "%lld training images fit to %.1f%% accuracy in %lld epochs (%lld steps): %s",
                static_cast<long long>(n), 100 * r.train_acc, static_cast<long long>(r.epochs),
                static_cast<long long>(r.epochs * ((n + 15) / 16)),
                r.ok ? "the network can learn" : "cannot overfit them: the model is too small, the lr is off, or there is a bug");
  r.reading = text;
  return r;
}

}  // namespace cvtrain
