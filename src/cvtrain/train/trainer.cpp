#include "cvtrain/train/trainer.h"

#include <chrono>
#include <cmath>

#include "cvtrain/data/loader.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/optim/schedule.h"
#include "cvtrain/optim/sgd.h"

namespace cvtrain {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Number of rows of logits (N,K) whose argmax equals the label.
int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const int64_t n = logits.size(0), k = logits.size(1);
  Tensor lc = logits.contiguous();
  const float* p = lc.data<float>();
  const int64_t* y = labels.data<int64_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == y[i];
  }
  return correct;
}

optim::ScheduleSpec schedule_spec(const RunConfig& cfg, int64_t total_steps) {
  optim::ScheduleSpec s;
  s.name = cfg.optim_schedule;
  s.base_lr = cfg.optim_lr;
  s.base_momentum = cfg.optim_momentum;
  s.total_steps = total_steps;
  s.pct_start = cfg.optim_pct_start;
  s.min_lr = cfg.optim_min_lr;
  return s;
}

optim::SgdOptions sgd_options(const RunConfig& cfg) {
  optim::SgdOptions o;
  o.momentum = static_cast<float>(cfg.optim_momentum);
  o.dampening = static_cast<float>(cfg.optim_dampening);
  o.nesterov = cfg.optim_nesterov;
  o.weight_decay = static_cast<float>(cfg.optim_weight_decay);
  return o;
}

}  // namespace

EvalResult evaluate(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                    int64_t batch_size) {
  NoGradGuard no_grad(ctx);
  model.eval();
  BatchLoader loader(data, norm, batch_size, /*shuffle=*/false);
  loader.start_epoch(ctx.rng);
  Batch batch;
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  const auto t0 = Clock::now();
  while (loader.next(batch)) {
    Variable logits = model.forward(ctx, Variable(batch.x));
    const int64_t n = batch.y.size(0);
    loss_sum += ops::cross_entropy(ctx, logits, batch.y).item() * static_cast<double>(n);
    correct += count_correct(logits.data(), batch.y);
    r.images += n;
  }
  r.seconds = seconds_since(t0);
  r.loss = r.images ? loss_sum / static_cast<double>(r.images) : 0.0;
  r.accuracy = r.images ? static_cast<double>(correct) / static_cast<double>(r.images) : 0.0;
  return r;
}

std::vector<EpochMetrics> fit(Context& ctx, nn::Module& model, const RunConfig& cfg, const Dataset& train,
                              const Dataset& test, const Normalization& norm, const TrainHooks& hooks) {
  nn::ParameterArena arena(model);
  optim::SGD sgd(arena, sgd_options(cfg));
  BatchLoader loader(train, norm, cfg.train_batch_size, /*shuffle=*/true);
  const int64_t steps_per_epoch = loader.num_batches();
  const auto schedule = optim::make_schedule(schedule_spec(cfg, cfg.train_epochs * steps_per_epoch));
  const float smoothing = static_cast<float>(cfg.train_label_smoothing);

  std::vector<EpochMetrics> history;
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= cfg.train_epochs; ++epoch) {
    model.train();
    loader.start_epoch(ctx.rng);
    Batch batch;
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, step_in_epoch = 0;
    optim::ScheduleValue sv{};
    const auto t0 = Clock::now();
    while (loader.next(batch)) {
      sv = schedule(step);
      Variable logits = model.forward(ctx, Variable(batch.x));
      Variable loss = ops::cross_entropy(ctx, logits, batch.y, smoothing);
      const float loss_value = loss.item();
      if (!std::isfinite(loss_value))
        fail_input("step ", step + 1, " (epoch ", epoch, "): the loss is ", std::isnan(loss_value) ? "NaN" : "infinite",
                   "; training stopped and no model was saved (try a lower optim.lr)");
      arena.zero_grad();
      loss.backward();
      sgd.step(sv.lr, sv.momentum);
      const int64_t n = batch.y.size(0);
      loss_sum += static_cast<double>(loss_value) * static_cast<double>(n);
      correct += count_correct(logits.data(), batch.y);
      seen += n;
      ++step;
      ++step_in_epoch;
      if (hooks.on_step)
        hooks.on_step({epoch, step_in_epoch, steps_per_epoch, loss_value, sv.lr,
                       static_cast<double>(seen) / seconds_since(t0)});
    }
    EpochMetrics m;
    m.epoch = epoch;
    m.seconds = seconds_since(t0);
    m.train_loss = loss_sum / static_cast<double>(seen);
    m.train_acc = static_cast<double>(correct) / static_cast<double>(seen);
    m.images_per_s = static_cast<double>(seen) / m.seconds;
    m.lr = sv.lr;
    EvalResult ev = evaluate(ctx, model, test, norm, cfg.train_eval_batch_size);
    m.test_loss = ev.loss;
    m.test_acc = ev.accuracy;
    history.push_back(m);
    if (hooks.on_epoch) hooks.on_epoch(m);
  }
  return history;
}

double measure_train_throughput(Context& ctx, nn::Module& model, const RunConfig& cfg, const Shape& image_shape,
                                int64_t num_classes, int64_t warmup, int64_t steps) {
  nn::ParameterArena arena(model);
  optim::SGD sgd(arena, sgd_options(cfg));
  const int64_t b = cfg.train_batch_size;
  Shape xs{b};
  xs.insert(xs.end(), image_shape.begin(), image_shape.end());
  Tensor x = Tensor::empty(xs), y = Tensor::empty({b}, DType::i64);
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) px[i] = ctx.rng.normal();
  int64_t* py = y.data<int64_t>();
  for (int64_t i = 0; i < b; ++i) py[i] = static_cast<int64_t>(ctx.rng.below(static_cast<uint64_t>(num_classes)));
  model.train();
  auto one_step = [&] {
    Variable loss = ops::cross_entropy(ctx, model.forward(ctx, Variable(x)), y);
    arena.zero_grad();
    loss.backward();
    sgd.step(static_cast<float>(cfg.optim_lr) * 0.01f, static_cast<float>(cfg.optim_momentum));
  };
  for (int64_t i = 0; i < warmup; ++i) one_step();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) one_step();
  return static_cast<double>(steps * b) / seconds_since(t0);
}

}  // namespace cvtrain
