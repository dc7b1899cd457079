// The curve-reading rules, one check function each, in the lecture's order; curve_rules() is the
// table that names them. Every reading quotes the numbers that triggered it.
#include "cvtrain/train/curve_reading.h"
#include "cvtrain/base/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cvtrain {
namespace {

using namespace curve;


long long ll(int64_t v) { return static_cast<long long>(v); }

double mean(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / static_cast<double>(to - from);
}

bool same_lr(double a, double b) { return std::abs(a - b) <= kSameLr * std::max(std::abs(a), std::abs(b)); }

// ---- flat_start: the loss does not move over the start, or stays at the uniform guess's ----

std::string check_flat_start(const RunHistory& h, int64_t classes, std::string& unchecked) {
  const size_t n = h.steps.size();
  if (n < static_cast<size_t>(kMinStepRows)) {
    unchecked = fmt("%zu logged step%s, %d needed (set train.log_every_steps lower)", n, n == 1 ? "" : "s", kMinStepRows);
    return "";
  }
  if (classes < 2) {
    unchecked = "the number of classes is not known";
    return "";
  }
  std::vector<double> loss;
  for (const StepRow& s : h.steps) loss.push_back(s.loss);
  const size_t w = std::max<size_t>(2, static_cast<size_t>(std::lround(static_cast<double>(n) * kStartFraction)));
  const size_t k = std::max<size_t>(1, w / 4);
  const double start = mean(loss, 0, k), end = mean(loss, w - k, w), tail = mean(loss, n - k, n);
  const double chance = std::log(static_cast<double>(classes));
  if (!std::isfinite(start) || !std::isfinite(end)) return "";  // the exploding rule says it
  // A loss already far below chance that stops moving has converged, not stalled.
  const bool not_moving = end > start * (1 - kFlatMinDrop) && start > chance / 2;
  const bool at_chance = end > chance * (1 - kChanceMargin);
  if (!not_moving && !at_chance) return "";
  std::string r = fmt("The training loss went from %.3g to %.3g over the first %zu of %zu logged steps (to step %lld)",
                      start, end, w, n, ll(h.steps[w - 1].step));
  if (at_chance)
    r += fmt(", %s ln(%lld) = %.3g, the loss of a uniform guess", end >= chance ? "at or above" : "barely below",
             ll(classes), chance);
  if (std::isfinite(tail) && tail < end * 0.7)
    r += fmt(", then fell to %.3g by step %lld: a flat start, then a drop", tail, ll(h.steps.back().step));
  else
    r += fmt(", and was %.3g at the last logged step %lld: it never took off", tail, ll(h.steps.back().step));
  return r + ".";
}

// ---- exploding: a non-finite loss, or the smoothed loss doubling from its low ----

// The first i where the trailing mean of k values has risen kExplodeRise-fold (and kExplodeMinNats)
// above its running minimum; `low` gets that minimum's index. -1 when it never does.
int64_t first_rise(const std::vector<double>& v, size_t k, size_t& low) {
  std::vector<double> sm(v.size());
  double sum = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    sum += v[i];
    if (i >= k) sum -= v[i - k];
    sm[i] = sum / static_cast<double>(std::min(i + 1, k));
  }
  low = 0;
  for (size_t i = 1; i < sm.size(); ++i) {
    if (sm[i] >= sm[low] * kExplodeRise && sm[i] - sm[low] >= kExplodeMinNats) return static_cast<int64_t>(i);
    if (sm[i] < sm[low]) low = i;
  }
  return -1;
}

std::string check_exploding(const RunHistory& h, int64_t classes, std::string& unchecked) {
  for (const StepRow& s : h.steps)
    if (!std::isfinite(s.loss)) return fmt("The training loss was not finite (NaN or infinite) at step %lld.", ll(s.step));
  for (const EpochRow& e : h.epochs)
    if (!std::isfinite(e.train_loss))
      return fmt("The training loss was not finite (NaN or infinite) in epoch %lld.", ll(e.epoch));
  const double chance = classes >= 2 ? std::log(static_cast<double>(classes)) : 0.0;
  for (const StepRow& s : h.steps)
    if (chance > 0 && s.loss > kExplodeOverChance * chance)
      return fmt("The training loss was %.4g at step %lld, over %.0f times ln(%lld) = %.3g, the loss of a uniform guess.",
                 s.loss, ll(s.step), kExplodeOverChance, ll(classes), chance);
  if (h.steps.size() >= 2) {
    std::vector<double> loss;
    for (const StepRow& s : h.steps) loss.push_back(s.loss);
    const size_t k = std::max<size_t>(std::min<size_t>(kSmoothSteps, loss.size()), loss.size() / 20);
    size_t low = 0;
    if (const int64_t i = first_rise(loss, k, low); i >= 0)
      return fmt("The training loss rose from its low of %.3g at step %lld to %.3g at step %lld (%s).",
                 mean(loss, low + 1 >= k ? low + 1 - k : 0, low + 1), ll(h.steps[low].step),
                 mean(loss, static_cast<size_t>(i) + 1 >= k ? static_cast<size_t>(i) + 1 - k : 0, static_cast<size_t>(i) + 1),
                 ll(h.steps[static_cast<size_t>(i)].step),
                 k > 1 ? fmt("means of %zu logged steps", k).c_str() : "logged steps");
  }
  if (h.epochs.size() >= 2) {
    std::vector<double> loss;
    for (const EpochRow& e : h.epochs) loss.push_back(e.train_loss);
    size_t low = 0;
    if (const int64_t i = first_rise(loss, 1, low); i >= 0)
      return fmt("The epoch's mean training loss rose from %.3g in epoch %lld to %.3g in epoch %lld.", loss[low],
                 ll(h.epochs[low].epoch), loss[static_cast<size_t>(i)], ll(h.epochs[static_cast<size_t>(i)].epoch));
  }
  if (h.steps.size() < 2 && h.epochs.size() < 2) unchecked = "fewer than 2 logged steps and 2 epochs";
  return "";
}

// ---- plateau: no progress for kPlateauEpochs epochs at one learning rate ----

std::string check_plateau(const RunHistory& h, int64_t, std::string& unchecked) {
  const size_t n = h.epochs.size(), K = static_cast<size_t>(kPlateauEpochs);
  if (n < K + 1) {
    unchecked = fmt("%zu epoch%s, %zu needed", n, n == 1 ? "" : "s", K + 1);
    return "";
  }
  const double lr = h.epochs[n - K].lr;
  for (size_t i = n - K; i < n; ++i)
    if (!same_lr(h.epochs[i].lr, lr)) return "";  // the schedule is already lowering it
  size_t best_before = 0, best_in = n - K;
  for (size_t i = 0; i < n - K; ++i)
    if (h.epochs[i].train_loss < h.epochs[best_before].train_loss) best_before = i;
  for (size_t i = n - K; i < n; ++i)
    if (h.epochs[i].train_loss < h.epochs[best_in].train_loss) best_in = i;
  const double before = h.epochs[best_before].train_loss, in = h.epochs[best_in].train_loss;
  if (!std::isfinite(before) || !std::isfinite(in) || in < kPlateauFloor || in <= before * (1 - kPlateauGain)) return "";
  return fmt("The training loss has not improved by %.0f%% on its %.4g of epoch %lld in the last %zu epochs "
             "(best %.4g), all at lr %.3g.",
             100 * kPlateauGain, before, ll(h.epochs[best_before].epoch), K, in, lr);
}

// ---- the train/eval accuracy gap: overfitting, and no gap at a low accuracy: underfitting ----

// The last epoch with an evaluated accuracy; null with `unchecked` set when there is none, or when
// its accuracies are not numbers (a diverged run).
const EpochRow* last_evaluated(const RunHistory& h, std::string& unchecked) {
  for (auto it = h.epochs.rbegin(); it != h.epochs.rend(); ++it)
    if (h.eval_acc(*it)) {
      if (std::isfinite(it->train_acc) && std::isfinite(*h.eval_acc(*it))) return &*it;
      unchecked = fmt("the accuracies of epoch %lld are not numbers", ll(it->epoch));
      return nullptr;
    }
  unchecked = "no epoch was evaluated";
  return nullptr;
}

std::string gap_sentence(const RunHistory& h, const EpochRow& r) {
  const double gap = r.train_acc - *h.eval_acc(r);
  return fmt("At epoch %lld the training accuracy is %.1f%% and the %s accuracy %.1f%% (a gap of %.1f points)",
             ll(r.epoch), 100 * r.train_acc, h.split_name(), 100 * *h.eval_acc(r), 100 * gap);
}

std::string check_overfitting(const RunHistory& h, int64_t, std::string& unchecked) {
  const EpochRow* r = last_evaluated(h, unchecked);
  if (!r) return "";
  if (r->train_acc - *h.eval_acc(*r) < kOverfitGap) return "";
  std::string s = gap_sentence(h, *r);
  const EpochRow* best = nullptr;  // the lowest evaluated loss
  for (const EpochRow& e : h.epochs)
    if (h.eval_loss(e) && (!best || *h.eval_loss(e) < *h.eval_loss(*best))) best = &e;
  if (best && best != r && h.eval_loss(*r) && *h.eval_loss(*r) > *h.eval_loss(*best) * 1.1)
    s += fmt("; the %s loss rose from %.3g (epoch %lld) to %.3g", h.split_name(), *h.eval_loss(*best),
             ll(best->epoch), *h.eval_loss(*r));
  return s + ".";
}

std::string check_underfitting(const RunHistory& h, int64_t, std::string& unchecked) {
  const EpochRow* r = last_evaluated(h, unchecked);
  if (!r) return "";
  if (r->train_acc - *h.eval_acc(*r) >= kNoGap || r->train_acc >= kUnderfitAcc) return "";
  return gap_sentence(h, *r) + fmt(": no gap, and under %.0f%% of the training set is fit.", 100 * kUnderfitAcc);
}

// ---- still_improving: the evaluated accuracy still rising at the end ----

std::string check_still_improving(const RunHistory& h, int64_t, std::string& unchecked) {
  std::vector<const EpochRow*> ev;
  for (const EpochRow& e : h.epochs)
    if (h.eval_acc(e) && std::isfinite(*h.eval_acc(e))) ev.push_back(&e);
  if (ev.size() < 2) {
    unchecked = fmt("%zu evaluated epoch%s, 2 needed", ev.size(), ev.size() == 1 ? "" : "s");
    return "";
  }
  const EpochRow& last = *ev.back();
  const EpochRow& from = *ev[ev.size() - 1 - std::min<size_t>(kRiseEvaluations, ev.size() - 1)];
  const double a = *h.eval_acc(last), a0 = *h.eval_acc(from);
  for (const EpochRow* e : ev)
    if (*h.eval_acc(*e) > a) return "";  // it peaked earlier
  if (a - a0 < kStillRising) return "";
  return fmt("The %s accuracy rose from %.2f%% (epoch %lld) to %.2f%% (epoch %lld), its best, at the end of the run.",
             h.split_name(), 100 * a0, ll(from.epoch), 100 * a, ll(last.epoch));
}

// ---- data_bound: the loader, not the network, set the pace ----

std::string check_data_bound(const RunHistory& h, int64_t, std::string& unchecked) {
  double waited = 0, seconds = 0;
  int64_t epochs = 0;
  for (const EpochRow& e : h.epochs) {
    if (!e.data_wait_s || !std::isfinite(*e.data_wait_s) || !(e.seconds > 0)) continue;
    waited += *e.data_wait_s, seconds += e.seconds, ++epochs;
  }
  if (epochs == 0) {
    unchecked = "no epoch logged its data_wait_s";
    return "";
  }
  if (waited < kDataBound * seconds) return "";
  return fmt("Training waited for batches %.1f s of its %.1f s (%.0f%%) over %lld epoch%s.", waited, seconds,
             100 * waited / seconds, ll(epochs), epochs == 1 ? "" : "s");
}

}  // namespace

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::problem: return "problem";
  }
  return "?";
}

const std::vector<CurveRule>& curve_rules() {
  static const std::vector<CurveRule> rules = {
      {"flat_start", "Flat loss at the start", Severity::warning,
       "A loss that stays flat and then drops is the lecture's sign of a bad initialization: check model.init and its "
       "scale (cvtrain diagnose shows the per-layer signal). A loss that never moves means the learning rate is too "
       "low: raise optim.lr (cvtrain lr-find suggests one).",
       check_flat_start},
      {"exploding", "Loss exploding", Severity::problem,
       "A loss that rises sharply or becomes NaN means the learning rate is too high: lower optim.lr (by 3-10x), add "
       "warmup (optim.warmup_epochs) or clip gradients (train.clip_grad_norm).",
       check_exploding},
      {"plateau", "Loss plateau at a constant learning rate", Severity::warning,
       "The loss has stopped improving at this learning rate: time to decay it (optim.schedule: step, multistep "
       "or cosine).",
       check_plateau},
      {"overfitting", "Large train/validation gap", Severity::warning,
       "A big gap between training and validation accuracy is overfitting: add regularization (weight decay, "
       "dropout, data augmentation) or more training data.",
       check_overfitting},
      {"underfitting", "No gap, low training accuracy", Severity::warning,
       "No gap and a low training accuracy is underfitting: use a bigger model (model.width, a deeper model) or "
       "train longer.",
       check_underfitting},
      {"still_improving", "Validation accuracy still rising", Severity::info,
       "The validation accuracy was still rising when the run ended: train longer (more train.epochs).",
       check_still_improving},
      {"data_bound", "Training waits for its data", Severity::warning,
       "The loader, not the network, sets the pace: raise data.workers (threads that prefetch augmented batches) "
       "where cores are free (the batches do not depend on it), or make the augmentation cheaper.",
       check_data_bound},
  };
  return rules;
}

CurveReading read_curves(const RunHistory& h, int64_t num_classes) {
  CurveReading out;
  for (const CurveRule& rule : curve_rules()) {
    std::string unchecked;
    std::string reading = rule.check(h, num_classes, unchecked);
    if (!reading.empty()) out.findings.push_back({rule.id, rule.severity, std::move(reading), rule.advice});
    else if (!unchecked.empty()) out.unchecked.push_back(std::string(rule.id) + ": " + unchecked);
  }
  return out;
}

}  // namespace cvtrain
