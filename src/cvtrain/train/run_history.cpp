// metrics.jsonl and steps.jsonl read line by line with nlohmann::json; each error names the file,
// the line and the column that was wrong.
#include "cvtrain/train/run_history.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"

namespace cvtrain {
namespace {

using Json = nlohmann::json;

std::optional<double> optional_number(const Json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  if (!j.at(key).is_number()) throw std::invalid_argument(std::string("'") + key + "' is not a number");
  return j.at(key).get<double>();
}

double number(const Json& j, const char* key) {
  if (!j.contains(key)) throw std::invalid_argument(std::string("no '") + key + "'");
  const std::optional<double> v = optional_number(j, key);
  // NOTE: nlohmann writes NaN and infinity as null; a diverged loss comes back as null, kept as NaN
  return v ? *v : std::numeric_limits<double>::quiet_NaN();
}

int64_t integer(const Json& j, const char* key) {
  if (!j.contains(key) || !j.at(key).is_number_integer()) throw std::invalid_argument(std::string("no integer '") + key + "'");
  return j.at(key).get<int64_t>();
}

// Calls `row` on each line's JSON object; a line that does not parse, or that `row` rejects, is an
// InputError naming origin:line, except a torn last line (no final newline), which is dropped.
void for_each_line(const std::string& text, const std::string& origin, const std::function<void(const Json&)>& row) {
  std::istringstream in(text);
  int64_t number_of_line = 0;
  size_t consumed = 0;
  for (std::string line; std::getline(in, line);) {
    ++number_of_line;
    consumed += line.size() + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const bool torn = consumed > text.size();  // the last line, without its newline
    try {
      const Json j = Json::parse(line);
      if (!j.is_object()) throw std::invalid_argument("not a JSON object");
      row(j);
    } catch (const std::exception& e) {
      if (torn) return;
      fail_input(origin, ":", number_of_line, ": not a valid row (", e.what(), ")");
    }
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, ": cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::optional<double> RunHistory::eval_loss(const EpochRow& r) const {
  return split == EvalSplit::validation ? r.val_loss : r.test_loss;
}
std::optional<double> RunHistory::eval_acc(const EpochRow& r) const {
  return split == EvalSplit::validation ? r.val_acc : r.test_acc;
}
std::optional<double> RunHistory::ema_eval_acc(const EpochRow& r) const {
  return split == EvalSplit::validation ? r.ema_val_acc : r.ema_test_acc;
}

std::vector<EpochRow> parse_metrics_jsonl(const std::string& text, const std::string& origin) {
  std::vector<EpochRow> rows;
  for_each_line(text, origin, [&](const Json& j) {
    EpochRow r;
    r.epoch = integer(j, "epoch");
    r.step = integer(j, "step");
    r.train_loss = number(j, "train_loss");
    r.train_acc = number(j, "train_acc");
    r.lr = number(j, "lr");
    r.val_loss = optional_number(j, "val_loss"), r.val_acc = optional_number(j, "val_acc");
    r.ema_val_loss = optional_number(j, "ema_val_loss"), r.ema_val_acc = optional_number(j, "ema_val_acc");
    r.test_loss = optional_number(j, "test_loss"), r.test_acc = optional_number(j, "test_acc");
    r.ema_test_loss = optional_number(j, "ema_test_loss"), r.ema_test_acc = optional_number(j, "ema_test_acc");
    r.images_per_s = optional_number(j, "images_per_s").value_or(0);
    r.seconds = optional_number(j, "seconds").value_or(0);
    r.data_wait_s = optional_number(j, "data_wait_s");
    rows.push_back(r);
  });
  return rows;
}

std::vector<StepRow> parse_steps_jsonl(const std::string& text, const std::string& origin) {
  std::vector<StepRow> rows;
  for_each_line(text, origin, [&](const Json& j) {
    StepRow r;
    r.step = integer(j, "step");
    r.epoch = j.contains("epoch") ? integer(j, "epoch") : 0;
    r.loss = number(j, "loss");
    r.lr = number(j, "lr");
    r.grad_norm = optional_number(j, "grad_norm");
    rows.push_back(r);
  });
  return rows;
}

EvalSplit eval_split_of(const std::vector<EpochRow>& epochs) {
  for (const EpochRow& r : epochs)
    if (r.val_acc) return EvalSplit::validation;
  return EvalSplit::test;
}

RunHistory read_run_history(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail_input(dir, ": no such run folder");
  if (!fs::is_directory(dir, ec)) fail_input(dir, ": not a folder; give the run folder (the --out of cvtrain train)");
  const std::string metrics = dir + "/metrics.jsonl", steps = dir + "/steps.jsonl";
  if (!fs::is_regular_file(metrics, ec)) fail_input(metrics, ": no such file; is ", dir, " a cvtrain run folder?");
  RunHistory h;
  h.epochs = parse_metrics_jsonl(read_text(metrics), metrics);
  if (fs::is_regular_file(steps, ec)) h.steps = parse_steps_jsonl(read_text(steps), steps);
  h.split = eval_split_of(h.epochs);
  return h;
}

}  // namespace cvtrain
