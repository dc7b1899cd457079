// The report page, one function per section, each returning its HTML; report_html strings them
// together under one stylesheet. Numbers are formatted here; charts come from viz/svg.h; images are
// PNGs (data/image_io.h) inlined as base64 data: URIs.
#include "cvtrain/train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/viz/svg.h"

namespace cvtrain {
namespace {

using viz::Series;
using viz::xml_escape;


std::string pct(std::optional<double> v) { return v ? fmt("%.2f%%", 100 * *v) : "&ndash;"; }
std::string num(std::optional<double> v) { return v && std::isfinite(*v) ? fmt("%.4g", *v) : "&ndash;"; }

std::string base64(const std::string& bytes) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    out += {abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += {abc[v >> 18], abc[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += {abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63], '='};
  }
  return out;
}

std::string read_if_present(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A loss curve spanning two decades or more reads better on a log axis.
bool wants_log(const std::vector<Series>& series) {
  double lo = INFINITY, hi = 0;
  for (const Series& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) {
        if (v <= 0) return false;
        lo = std::min(lo, v), hi = std::max(hi, v);
      }
  return hi > 0 && hi / lo >= 100;
}

std::string chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                  const std::vector<Series>& series, bool allow_log = true) {
  const bool log_y = allow_log && wants_log(series);
  return "<figure>" + viz::line_chart_svg(title + (log_y ? " (log scale)" : ""), xlabel, ylabel, series, log_y) +
         "</figure>";
}

// ---- sections ----

std::string summary_section(const ReportInputs& in) {
  const RunHistory& h = in.history;
  std::ostringstream s;
  s << "<h1>Run report: " << xml_escape(in.run_dir) << "</h1><p class=\"meta\">";
  double seconds = 0;
  for (const EpochRow& e : h.epochs) seconds += e.seconds;
  s << h.epochs.size() << (h.epochs.size() == 1 ? " epoch" : " epochs") << " logged, " << h.steps.size()
    << (h.steps.size() == 1 ? " logged step" : " logged steps");
  if (!h.epochs.empty()) s << ", " << h.epochs.back().step << " optimizer steps, " << fmt("%.1f", seconds) << " s of training";
  s << ". Evaluated on the <b>" << h.split_name() << "</b> split"
    << (h.split == EvalSplit::test ? " (the run has no validation split, so the test set stands in for one)" : "")
    << ".</p>";
  if (h.epochs.empty()) return s.str() + "<p>No epoch finished: the per-epoch sections are empty.</p>";
  const EpochRow& e = h.epochs.back();
  s << "<table class=\"num\"><tr><th>last epoch</th><th>train loss</th><th>train acc</th><th>" << h.split_name()
    << " loss</th><th>" << h.split_name() << " acc</th><th>lr</th><th>images/s</th></tr><tr><td>" << e.epoch << "</td><td>"
    << num(e.train_loss) << "</td><td>" << pct(e.train_acc) << "</td><td>" << num(h.eval_loss(e)) << "</td><td>"
    << pct(h.eval_acc(e)) << "</td><td>" << num(e.lr) << "</td><td>" << fmt("%.0f", e.images_per_s) << "</td></tr></table>";
  return s.str();
}

// A rule's title with the split the run evaluated: "validation" becomes "test" when the test set
// stood in for a validation split.
std::string split_title(std::string title, const RunHistory& h) {
  if (h.split == EvalSplit::validation) return title;
  for (const auto& [from, to] : {std::pair{"validation", "test"}, std::pair{"Validation", "Test"}})
    if (const size_t at = title.find(from); at != std::string::npos) title.replace(at, std::strlen(from), to);
  return title;
}

std::string findings_section(const CurveReading& r, const RunHistory& h) {
  std::ostringstream s;
  s << "<h2>What the curves say</h2>";
  if (r.findings.empty()) s << "<p class=\"ok\">No rule fired: the curves show none of the problems below.</p>";
  for (const Finding& f : r.findings) {
    std::string title = f.rule;
    for (const CurveRule& rule : curve_rules())
      if (f.rule == rule.id) title = split_title(rule.title, h);
    s << "<div class=\"finding " << severity_name(f.severity) << "\"><div class=\"head\"><span class=\"sev\">"
      << severity_name(f.severity) << "</span> " << xml_escape(title) << " <code>" << xml_escape(f.rule)
      << "</code></div><p>" << xml_escape(f.reading) << "</p><p class=\"advice\">" << xml_escape(f.advice) << "</p></div>";
  }
  if (!r.unchecked.empty()) {
    s << "<p class=\"meta\">Not checked (too little logged):</p><ul class=\"meta\">";
    for (const std::string& u : r.unchecked) s << "<li>" << xml_escape(u) << "</li>";
    s << "</ul>";
  }
  s << "<p class=\"meta\">Rules checked: ";
  for (const CurveRule& rule : curve_rules()) s << "<code>" << rule.id << "</code> ";
  return s.str() + "(docs/report.md gives each rule's thresholds).</p>";
}

std::string step_section(const RunHistory& h) {
  if (h.steps.empty())
    return "<h2>Per step</h2><p>No steps.jsonl rows (train.log_every_steps was 0, or the run logged none).</p>";
  Series loss{"training loss", {}, {}}, lr{"lr", {}, {}}, grad{"gradient norm (before clipping)", {}, {}};
  for (const StepRow& s : h.steps) {
    const auto x = static_cast<double>(s.step);
    loss.x.push_back(x), loss.y.push_back(s.loss), lr.x.push_back(x), lr.y.push_back(s.lr);
    if (s.grad_norm) grad.x.push_back(x), grad.y.push_back(*s.grad_norm);
  }
  std::string out = "<h2>Per step</h2><p class=\"meta\">Every logged step (train.log_every_steps): the loss of that "
                    "step's batch, before any averaging.</p><div class=\"charts\">";
  out += chart("training loss per step", "optimizer step", "cross-entropy", {loss});
  out += chart("learning rate per step", "optimizer step", "lr", {lr}, false);
  if (!grad.x.empty()) out += chart("gradient norm per step", "optimizer step", "L2 norm", {grad});
  return out + "</div>";
}

std::string epoch_section(const RunHistory& h) {
  if (h.epochs.empty()) return "";
  const std::string split = h.split == EvalSplit::validation ? "validation" : "test (no validation split)";
  Series tl{"train (epoch mean)", {}, {}}, el{split, {}, {}}, ta{"train (epoch mean)", {}, {}}, ea{split, {}, {}};
  Series ema{split + ", EMA weights", {}, {}}, lr{"lr (end of epoch)", {}, {}};
  for (const EpochRow& e : h.epochs) {
    const auto x = static_cast<double>(e.epoch);
    tl.x.push_back(x), tl.y.push_back(e.train_loss), ta.x.push_back(x), ta.y.push_back(e.train_acc);
    el.x.push_back(x), el.y.push_back(h.eval_loss(e).value_or(NAN));
    ea.x.push_back(x), ea.y.push_back(h.eval_acc(e).value_or(NAN));
    if (h.ema_eval_acc(e)) ema.x.push_back(x), ema.y.push_back(*h.ema_eval_acc(e));
    lr.x.push_back(x), lr.y.push_back(e.lr);
  }
  std::vector<Series> acc = {ta, ea};
  if (!ema.x.empty()) acc.push_back(ema);
  std::string out = "<h2>Per epoch</h2><div class=\"charts\">";
  out += chart("loss per epoch", "epoch", "cross-entropy", {tl, el});
  out += chart("accuracy per epoch", "epoch", "accuracy", acc, false);
  out += chart("learning rate per epoch", "epoch", "lr", {lr}, false);
  out += "</div><table class=\"num\"><tr><th>epoch</th><th>step</th><th>train loss</th><th>train acc</th><th>" +
         std::string(h.split_name()) + " loss</th><th>" + h.split_name() + " acc</th><th>lr</th><th>seconds</th></tr>";
  for (const EpochRow& e : h.epochs)
    out += "<tr><td>" + std::to_string(e.epoch) + "</td><td>" + std::to_string(e.step) + "</td><td>" + num(e.train_loss) +
           "</td><td>" + pct(e.train_acc) + "</td><td>" + num(h.eval_loss(e)) + "</td><td>" + pct(h.eval_acc(e)) +
           "</td><td>" + num(e.lr) + "</td><td>" + fmt("%.1f", e.seconds) + "</td></tr>";
  return out + "</table>";
}

// Rows are true classes, columns predictions; a cell's shade is its share of the row.
std::string confusion_table(const TestReview& t) {
  const auto K = static_cast<int64_t>(t.class_names.size());
  std::ostringstream s;
  s << "<table class=\"confusion\"><tr><th>true \\ predicted</th>";
  for (const std::string& n : t.class_names) s << "<th class=\"col\">" << xml_escape(n) << "</th>";
  s << "<th>recall</th></tr>";
  for (int64_t i = 0; i < K; ++i) {
    int64_t row = 0;
    for (int64_t j = 0; j < K; ++j) row += t.confusion[static_cast<size_t>(i * K + j)];
    s << "<tr><th>" << xml_escape(t.class_names[static_cast<size_t>(i)]) << "</th>";
    for (int64_t j = 0; j < K; ++j) {
      const int64_t c = t.confusion[static_cast<size_t>(i * K + j)];
      const double share = row ? static_cast<double>(c) / static_cast<double>(row) : 0.0;
      const char* hue = i == j ? "31,119,180" : "214,39,40";
      s << "<td style=\"background:rgba(" << hue << "," << fmt("%.2f", std::min(1.0, share * (i == j ? 1.0 : 3.0)))
        << ")" << (share > 0.6 ? ";color:#fff" : "") << "\">" << (c ? std::to_string(c) : "") << "</td>";
    }
    s << "<td>" << (row ? fmt("%.1f%%", 100.0 * static_cast<double>(t.confusion[static_cast<size_t>(i * K + i)]) / static_cast<double>(row)) : "&ndash;") << "</td></tr>";
  }
  return s.str() + "</table>";
}

std::string mistakes_grid(const TestReview& t) {
  if (t.mistakes.empty()) return "<p>No test image was misclassified.</p>";
  std::ostringstream s;
  s << "<div class=\"mistakes\">";
  for (const Mistake& m : t.mistakes) {
    const int64_t scale = std::max<int64_t>(1, 96 / std::max<int64_t>(1, m.image.W));
    s << "<figure class=\"mistake\"><img alt=\"test image " << m.index << "\" width=\"" << m.image.W * scale
      << "\" height=\"" << m.image.H * scale << "\" src=\"data:image/png;base64," << base64(encode_png(m.image))
      << "\"><figcaption>#" << m.index << "<br>true: <b>" << xml_escape(t.class_names[static_cast<size_t>(m.truth)])
      << "</b><br>predicted: <b>" << xml_escape(t.class_names[static_cast<size_t>(m.predicted)]) << "</b><br>"
      << fmt("%.2f%%", 100 * m.confidence) << " confident</figcaption></figure>";
  }
  return s.str() + "</div>";
}

std::string test_section(const ReportInputs& in) {
  std::string out = "<h2>The model on the test set</h2>";
  if (!in.test) return out + "<p>" + xml_escape(in.test_note) + "</p>";
  const TestReview& t = *in.test;
  out += fmt("<p>model.safetensors on the %lld test images: %.2f%% correct. (Reported on the test set only; nothing "
             "here chose the model.)</p>",
             static_cast<long long>(t.images), 100 * t.accuracy());
  out += "<h3>Confusion matrix</h3>" + confusion_table(t);
  out += fmt("<h3>The %zu most confident mistakes</h3>", t.mistakes.size()) + mistakes_grid(t);
  return out;
}

// j[key] when j is an object that has it, else null: diagnostics files are read as they come, so a
// field of an unexpected type shows as missing instead of throwing.
const nlohmann::json& field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

std::string cell(const nlohmann::json& v) {
  if (v.is_number()) return fmt("%.3g", v.get<double>());
  if (v.is_string()) return xml_escape(v.get<std::string>());
  return v.is_null() ? "&ndash;" : xml_escape(v.dump());
}

// One table of per-layer numbers: a row per object of `layers`, a column per key.
std::string layer_table(const nlohmann::json& layers, const std::vector<const char*>& keys) {
  std::ostringstream s;
  s << "<table class=\"num\"><tr>";
  for (const char* k : keys) s << "<th>" << k << "</th>";
  s << "</tr>";
  for (const auto& l : layers) {
    if (!l.is_object()) continue;
    s << "<tr>";
    for (const char* k : keys) s << "<td>" << cell(field(l, k)) << "</td>";
    s << "</tr>";
  }
  return s.str() + "</table>";
}

std::string warnings_list(const nlohmann::json& warnings) {
  if (!warnings.is_array() || warnings.empty()) return "<p>No diagnostics warning.</p>";
  std::string out = "<ul>";
  for (const auto& w : warnings) out += "<li>" + xml_escape(w.is_string() ? w.get<std::string>() : w.dump()) + "</li>";
  return out + "</ul>";
}

// diagnostics.jsonl: the activation std of each layer over the logged steps, and the last line's table.
std::string diagnostics_over_training(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (field(j, "layers").is_array() && field(j, "step").is_number()) lines.push_back(std::move(j));
  }
  if (lines.empty()) return "<p>diagnostics.jsonl holds no readable line.</p>";
  const nlohmann::json& last = lines.back();
  std::vector<Series> stds;
  for (const auto& l : field(last, "layers"))
    stds.push_back({field(l, "name").is_string() ? field(l, "name").get<std::string>() : "?", {}, {}});
  for (const auto& j : lines)
    for (size_t i = 0; i < j.at("layers").size() && i < stds.size(); ++i) {
      const auto& v = field(j.at("layers")[i], "act_std");
      stds[i].x.push_back(j.at("step").get<double>()), stds[i].y.push_back(v.is_number() ? v.get<double>() : NAN);
    }
  std::string title = "activation std per layer";
  if (stds.size() > 10) stds.resize(10), title += " (the first 10)";  // the palette's colours; the table has all
  return "<p class=\"meta\">diagnostics.jsonl (train.diagnostics_every): " + std::to_string(lines.size()) +
         " logged steps.</p><div class=\"charts\">" + chart(title, "optimizer step", "std", stds) +
         "</div><h3>At step " + cell(last.at("step")) + "</h3>" +
         layer_table(last.at("layers"), {"name", "act_mean", "act_std", "frac_zero", "frac_saturated", "grad_std"}) +
         warnings_list(field(last, "warnings"));
}

std::string diagnostics_section(const ReportInputs& in) {
  if (in.diagnostics_jsonl.empty() && in.diagnostics_json.empty()) return "";
  std::string out = "<h2>Per-layer diagnostics</h2>";
  if (!in.diagnostics_jsonl.empty()) out += diagnostics_over_training(in.diagnostics_jsonl);
  if (!in.diagnostics_json.empty()) {
    const nlohmann::json d = nlohmann::json::parse(in.diagnostics_json, nullptr, false);
    if (!field(d, "layers").is_array()) return out + "<p>diagnostics.json is not readable.</p>";
    out += "<p class=\"meta\">diagnostics.json (cvtrain diagnose): " + cell(field(d, "batches")) + " batches, loss " +
           cell(field(d, "loss")) + ".</p>" +
           layer_table(d.at("layers"), {"name", "type", "act_mean", "act_std", "frac_zero", "frac_dead",
                                        "frac_saturated", "grad_std"}) +
           warnings_list(field(d, "warnings"));
  }
  return out;
}

std::string config_section(const std::string& config) {
  if (config.empty()) return "<h2>Config</h2><p>No config.yaml in the run folder.</p>";
  return "<h2>Config</h2><pre>" + xml_escape(config) + "</pre>";
}

const char* kStyle = R"(<style>
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;line-height:1.4}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
.meta{color:#666;font-size:13px}.ok{color:#2a7a2a}
.finding{border-left:6px solid #999;background:#f7f7f7;padding:6px 12px;margin:10px 0}
.finding p{margin:4px 0}.finding .head{font-weight:bold}.finding .advice{color:#444;font-style:italic}
.finding .sev{text-transform:uppercase;font-size:11px;padding:1px 6px;border-radius:3px;color:#fff;background:#999}
.problem{border-color:#d62728}.problem .sev{background:#d62728}.warning{border-color:#e6a100}.warning .sev{background:#e6a100}
.info{border-color:#1f77b4}.info .sev{background:#1f77b4}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px}
table.num td{text-align:right}table.num td:first-child{text-align:left}th{background:#f3f3f3}
table.confusion td{text-align:center;min-width:34px}table.confusion th.col{font-size:11px}
.mistakes{display:flex;flex-wrap:wrap;gap:10px}.mistake{width:112px;font-size:11px;text-align:center}
.mistake img{image-rendering:pixelated;border:1px solid #ccc;background:#000}
pre{background:#f7f7f7;padding:10px;font-size:12px;overflow:auto}
</style>)";

}  // namespace

ReportInputs read_report_inputs(const std::string& dir) {
  ReportInputs in;
  in.run_dir = dir;
  in.history = read_run_history(dir);
  in.config_text = read_if_present(dir + "/config.yaml");
  in.diagnostics_jsonl = read_if_present(dir + "/diagnostics.jsonl");
  in.diagnostics_json = read_if_present(dir + "/diagnostics.json");
  return in;
}

std::string report_html(const ReportInputs& in) {
  return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cvtrain report: " +
         xml_escape(in.run_dir) + "</title>" + kStyle + "</head><body>" + summary_section(in) +
         findings_section(in.reading, in.history) + step_section(in.history) + epoch_section(in.history) + test_section(in) +
         diagnostics_section(in) + config_section(in.config_text) + "</body></html>\n";
}

std::string findings_text(const CurveReading& reading) {
  std::string out;
  if (reading.findings.empty()) out += "no findings: the curves show none of the problems the rules look for\n";
  for (const Finding& f : reading.findings)
    out.append("[").append(severity_name(f.severity)).append("] ").append(f.rule).append(": ").append(f.reading)
        .append("\n    advice: ").append(f.advice).append("\n");
  for (const std::string& u : reading.unchecked) out += "not checked: " + u + "\n";
  return out;
}

}  // namespace cvtrain
