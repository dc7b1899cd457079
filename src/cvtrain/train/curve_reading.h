// Reading a run's learning curves the way the "Training Neural Networks" lecture (CS231n, part 2)
// teaches: a flat start, an exploding loss, a plateau, a train/validation gap, no gap at a low
// accuracy, and a validation accuracy still rising at the end; and, for speed, training that waits
// for its data. A pure function from the logged history to findings in words; no files, no model.
// Rules are one table (curve_rules()).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cvtrain/train/run_history.h"

namespace cvtrain {

// The thresholds, declared once; docs/report.md quotes them.
namespace curve {
// flat_start: "the start" is the first quarter of the logged steps: long enough to see a healthy
// network's loss fall, short enough that a bad initialization's flat stretch fills it.
inline constexpr double kStartFraction = 0.25;
// ...and at least this many step rows are needed to read it (fewer: the rule is not checked).
inline constexpr int kMinStepRows = 8;
// Flat: the loss fell by less than 5% of its first value over the start (a healthy net halves it)...
inline constexpr double kFlatMinDrop = 0.05;
// ...or still sits within 5% of ln(classes), the loss of a uniform guess (where a sane init starts).
inline constexpr double kChanceMargin = 0.05;
// exploding: the smoothed loss at least doubles from its lowest value so far...
inline constexpr double kExplodeRise = 2.0;
// ...by at least half a nat, so that noise around a near-zero training loss does not count.
inline constexpr double kExplodeMinNats = 0.5;
// ...or a logged loss above 10 x ln(classes): a network starts near ln(classes) (the uniform guess),
// so ten times that is logits blown up, often by the first steps of a too-high learning rate.
inline constexpr double kExplodeOverChance = 10.0;
// A logged step's loss is one batch's: the rise is measured on means of at least 3 logged steps (or
// of 5% of them, when more), so that one bad batch is not an explosion.
inline constexpr int kSmoothSteps = 3;
// plateau: the last 3 epochs, all at one learning rate ("for a while" at constant lr)...
inline constexpr int kPlateauEpochs = 3;
// ...improved the best training loss by less than 1%...
inline constexpr double kPlateauGain = 0.01;
// ...while it is still above 0.05 nats (below that the training set is fit: nothing to decay for).
inline constexpr double kPlateauFloor = 0.05;
// Two learning rates within this relative difference are the same one.
inline constexpr double kSameLr = 1e-6;
// overfitting: training accuracy 10 points above the evaluated split's at the last evaluation.
inline constexpr double kOverfitGap = 0.10;
// underfitting: training accuracy less than 3 points above the evaluated split's (no gap)...
inline constexpr double kNoGap = 0.03;
// ...and under 90%: the model does not fit its own training set.
inline constexpr double kUnderfitAcc = 0.90;
// still_improving: the evaluated accuracy rose by half a point or more over the last 2 evaluations
// and is at its best at the end.
inline constexpr int kRiseEvaluations = 2;
inline constexpr double kStillRising = 0.005;
// data_bound: the training waited for the loader at least a tenth of its time over the logged epochs.
inline constexpr double kDataBound = 0.10;
}  // namespace curve

enum class Severity { info, warning, problem };
const char* severity_name(Severity s);  // "info", "warning", "problem"

struct Finding {
  std::string rule;     // "flat_start"
  Severity severity = Severity::info;
  std::string reading;  // one sentence, with the numbers that triggered it
  std::string advice;   // the lecture's advice for it
};

// What read_curves returns: the findings, and the rules it could not check (too little logged),
// each as "rule: why".
struct CurveReading {
  std::vector<Finding> findings;
  std::vector<std::string> unchecked;
};

// One rule: its id, a short title, its severity and advice; check returns the reading ("" when the
// curves do not show it) or sets `unchecked` to the reason it cannot tell.
struct CurveRule {
  const char* id;
  const char* title;
  Severity severity;
  const char* advice;
  std::string (*check)(const RunHistory& h, int64_t num_classes, std::string& unchecked);
};
const std::vector<CurveRule>& curve_rules();

// Every rule over `h`. num_classes: the classifier's classes (ln of it is the loss of a uniform
// guess), 0 when unknown.
CurveReading read_curves(const RunHistory& h, int64_t num_classes);

}  // namespace cvtrain
