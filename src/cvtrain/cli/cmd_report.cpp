// `cvtrain report RUN [--out FILE]`: reads the run folder's logs, reads the curves (train/
// curve_reading.h), evaluates model.safetensors on the run's test set as `eval` does (the confusion
// matrix and the most confident mistakes), and writes one self-contained HTML page (train/report.h).
// Prints the findings. A run without a model file (stopped, or still training) gets a page too.
#include <cstdio>
#include <filesystem>

#include "cvtrain/base/files.h"
#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/report.h"

namespace cvtrain::cli {

namespace fs = std::filesystem;

namespace {

// The model on its test set, loaded as cmd_eval loads it; nullopt with `note` saying why not.
std::optional<TestReview> review_model(const ReportArgs& a, std::string& note) {
  const std::string path = a.run + "/model.safetensors";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    note = "No model.safetensors in the run folder (a run that stopped or is still training): no test-set section.";
    return std::nullopt;
  }
  try {
    const auto meta = read_model_metadata(path);
    auto cfg_it = meta.find("config");
    if (cfg_it == meta.end()) fail_input(path, ": no 'config' entry in the metadata; not a cvtrain model file");
    const RunConfig cfg =
        parse_stored_config(cfg_it->second, path + " (metadata config)", a.overrides, StoredUse::evaluate);
    const Normalization norm = normalization_from_metadata(meta, path);
    apply_threads(cfg);
    Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
    set_cpu_runtime(ctx, cfg);
    const Dataset test = load_split(cfg, Split::test);
    if (test.size() == 0) fail_input("data.dataset ", cfg.data.dataset, ": the test split is empty");
    const Preprocess fitted = preprocess_from_metadata(meta, path);
    auto model = make_stored_model(cfg, test, norm, fitted, fs::file_size(path), path, ctx.rng);
    load_model_file(path, *model);
    return review_test_set(ctx, *model, test, norm, cfg.train.eval_batch_size, fitted.is_channel() ? nullptr : &fitted,
                           a.mistakes);
  } catch (const InputError& e) {
    note = std::string("The model could not be evaluated: ") + e.what();
    std::fprintf(stderr, "cvtrain: note: %s\n", note.c_str());
    return std::nullopt;
  }
}

// The classifier's classes from the run's config.yaml (one test image of its dataset), for a run
// without a usable model file; 0 when that does not load either.
int64_t classes_from_config(const ReportArgs& a) {
  const std::string path = a.run + "/config.yaml";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return 0;
  try {
    RunConfig cfg = parse_stored_config(read_config_file(path), path, a.overrides, StoredUse::evaluate);
    cfg.data.limit_test = 1;
    return static_cast<int64_t>(load_split(cfg, Split::test).class_names.size());
  } catch (const InputError&) {
    return 0;
  }
}

// The config that --set is judged against: the model file's, else the run's config.yaml, else none
// (the defaults); a file that does not read is left to the page to report.
std::pair<std::string, std::string> stored_config_of(const std::string& run) {
  try {
    const std::string model = run + "/model.safetensors";
    const std::string yaml = run + "/config.yaml";
    std::error_code ec;
    if (fs::is_regular_file(model, ec)) {
      const auto meta = read_model_metadata(model);
      if (auto it = meta.find("config"); it != meta.end()) return {it->second, model + " (metadata config)"};
    } else if (fs::is_regular_file(yaml, ec)) {
      std::string text = read_config_file(yaml);
      parse_config_text(text, yaml);
      return {text, yaml};
    }
  } catch (const InputError&) {
  }
  return {"", run};
}

// --set reaches the model's evaluation only: a key it would not read stops the report before it
// writes anything; later errors in the evaluation become a note on the page.
void check_report_overrides(const ReportArgs& a) {
  if (a.overrides.empty()) return;
  const auto [text, origin] = stored_config_of(a.run);
  parse_stored_config(text, origin, a.overrides, StoredUse::evaluate);
}

}  // namespace

int cmd_report(const ReportArgs& a) {
  if (a.mistakes < 0) fail_input("--mistakes must be >= 0, got ", a.mistakes);
  check_report_overrides(a);
  ReportInputs in = read_report_inputs(a.run);
  in.test = review_model(a, in.test_note);
  in.num_classes = in.test ? static_cast<int64_t>(in.test->class_names.size()) : classes_from_config(a);
  in.reading = read_curves(in.history, in.num_classes);
  const std::string out = a.out.empty() ? a.run + "/report.html" : a.out;
  write_text_atomic(out, report_html(in));
  std::printf("%s", findings_text(in.reading).c_str());
  std::printf("report: %s\n", out.c_str());
  return 0;
}

}  // namespace cvtrain::cli
