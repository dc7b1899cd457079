// The run report: one self-contained HTML page (inline SVG charts, images as data: URIs, no scripts,
// nothing fetched) that reads a run's curves for the user. Sections: the findings of curve_reading.h
// in words, the per-step curves (training loss, lr, gradient norm), the per-epoch curves (loss,
// accuracy, lr; the validation split's when the run has one, else the test split's, named so), the
// test set's confusion matrix and most confident mistakes, the per-layer diagnostics when the run
// logged them, and the config. Not the model evaluation itself (test_review.h) nor its loading (cli/).
#pragma once
#include <optional>
#include <string>

#include "cvtrain/train/curve_reading.h"
#include "cvtrain/train/run_history.h"
#include "cvtrain/train/test_review.h"

namespace cvtrain {

struct ReportInputs {
  std::string run_dir;
  std::string config_text;  // config.yaml as the run wrote it ("" when missing)
  RunHistory history;
  CurveReading reading;
  int64_t num_classes = 0;          // 0: unknown
  std::optional<TestReview> test;   // the model on the test set
  std::string test_note;            // why there is no test section ("" when there is one)
  std::string diagnostics_jsonl;    // DIR/diagnostics.jsonl (train.diagnostics_every), "" when absent
  std::string diagnostics_json;     // DIR/diagnostics.json (cvtrain diagnose --out DIR), "" when absent
};

// What the run folder holds besides the model: the history (read_run_history: InputError without
// metrics.jsonl), config.yaml, the diagnostics files. The reading and the test review are the caller's.
ReportInputs read_report_inputs(const std::string& dir);

std::string report_html(const ReportInputs& in);

// The findings as plain text lines for a terminal: "[warning] overfitting: <reading>" and the
// advice indented below it, then the rules not checked.
std::string findings_text(const CurveReading& reading);

}  // namespace cvtrain
