// A run folder's logs read back for people (report, curve reading): metrics.jsonl's epoch rows with
// every optional column kept optional (validation and test splits, EMA), and steps.jsonl's step rows.
// Reading only; the trainer's own resume path is history_from_json (metrics_log.h). A missing or
// malformed file is an InputError naming the file and the line.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cvtrain {

// One line of metrics.jsonl. A column the run did not log, or logged as null (not evaluated that
// epoch), is empty.
struct EpochRow {
  int64_t epoch = 0, step = 0;
  double train_loss = 0, train_acc = 0, lr = 0;
  std::optional<double> val_loss, val_acc, ema_val_loss, ema_val_acc;
  std::optional<double> test_loss, test_acc, ema_test_loss, ema_test_acc;
  double images_per_s = 0, seconds = 0;
  std::optional<double> data_wait_s;  // of `seconds`, waiting for the loader (absent in older logs)
};

// One line of steps.jsonl.
struct StepRow {
  int64_t step = 0, epoch = 0;
  double loss = 0, lr = 0;
  std::optional<double> grad_norm;
};

// The split the run evaluated on, as the curves should name it: the validation split when any epoch
// row carries val_* columns, otherwise the test split (which then stood in for a validation split).
enum class EvalSplit { validation, test };

struct RunHistory {
  std::vector<EpochRow> epochs;
  std::vector<StepRow> steps;
  EvalSplit split = EvalSplit::test;

  // The chosen split's columns of one row.
  std::optional<double> eval_loss(const EpochRow& r) const;
  std::optional<double> eval_acc(const EpochRow& r) const;
  std::optional<double> ema_eval_acc(const EpochRow& r) const;
  const char* split_name() const { return split == EvalSplit::validation ? "validation" : "test"; }
};

// Parses metrics.jsonl text (`origin` names it in errors). Empty lines are skipped; a torn last line
// (a killed run) is dropped; any other malformed line is an InputError "origin:LINE: ...".
std::vector<EpochRow> parse_metrics_jsonl(const std::string& text, const std::string& origin);
std::vector<StepRow> parse_steps_jsonl(const std::string& text, const std::string& origin);
// Sets `split` from the rows.
EvalSplit eval_split_of(const std::vector<EpochRow>& epochs);

// DIR/metrics.jsonl (required: InputError when missing) and DIR/steps.jsonl (optional).
RunHistory read_run_history(const std::string& dir);

}  // namespace cvtrain
