// libFuzzer target: a run folder's logs read back for the report (train/run_history.h): the bytes
// as metrics.jsonl and as steps.jsonl text. Whatever the parsers accept is then read by every curve
// rule and drawn as the report page, with the bytes also as its diagnostics files: neither may fail
// on any history the parsers accept (any exception there is a finding).
#include <cstdio>
#include <cstdlib>

#include "cvtrain/train/report.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  cvtrain::ReportInputs in;
  fuzz::expect_input_error_only([&] { in.history.epochs = cvtrain::parse_metrics_jsonl(text, "metrics.jsonl"); });
  fuzz::expect_input_error_only([&] { in.history.steps = cvtrain::parse_steps_jsonl(text, "steps.jsonl"); });
  in.history.split = cvtrain::eval_split_of(in.history.epochs);
  in.diagnostics_jsonl = in.diagnostics_json = text;
  try {
    in.reading = cvtrain::read_curves(in.history, 10);
    (void)cvtrain::report_html(in);
    (void)cvtrain::findings_text(in.reading);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: the curve reading or the page failed on an accepted history: %s\n", e.what());
    std::abort();
  }
  return 0;
}
