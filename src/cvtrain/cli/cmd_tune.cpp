// `cvtrain tune CONFIG [--set k=v]... [--out DIR]`: the lecture's way of tuning, in order, each step
// recorded with its evidence in DIR/tune.md and DIR/tune.json: (1) the initial loss against
// ln(classes), (2) overfitting a small sample, (3) the lr range test, (4) a coarse search of lr and
// weight decay for a few epochs, (5) a finer search around the best at the full length, (6) the
// curves of the best run read in words (and its report.html), (7) DIR/recipe.yaml, the best run's
// config. Every choice is made on a validation split; the test accuracy is reported beside.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cvtrain/base/files.h"
#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/curve_reading.h"
#include "cvtrain/train/lr_find.h"
#include "cvtrain/train/run_history.h"
#include "cvtrain/train/sanity.h"
#include "cvtrain/train/search.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/transfer.h"

namespace cvtrain::cli {
namespace fs = std::filesystem;

namespace {

// What the tuning found so far, as it goes to tune.md (Markdown lines) and tune.json.
struct Record {
  nlohmann::json steps = nlohmann::json::array();
  std::string md;
  void step(const std::string& name, const std::string& reading, nlohmann::json evidence) {
    evidence["step"] = name, evidence["reading"] = reading;
    steps.push_back(evidence);
    md += "## " + std::to_string(steps.size()) + ". " + name + "\n\n" + reading + "\n\n";
    std::printf("tune %zu. %s: %s\n", steps.size(), name.c_str(), reading.c_str());
    std::fflush(stdout);
  }
};

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (ch == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
    else if (ch == '"') quoted = !quoted;
    else if (ch == ',' && !quoted) out.emplace_back();
    else out.back() += ch;
  }
  return out;
}

// The best finished trial of a search folder's results.csv (rows are sorted: the first ok one), as
// column -> value.
std::map<std::string, std::string> best_trial(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "results.csv");
  std::string header, line;
  if (!std::getline(in, header)) fail_input(dir, "/results.csv: missing or empty");
  const std::vector<std::string> names = split_csv_line(header);
  while (std::getline(in, line)) {
    const std::vector<std::string> v = split_csv_line(line);
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < names.size() && i < v.size(); ++i) row[names[i]] = v[i];
    if (row["status"] == "ok") return row;
  }
  fail_input(dir, "/results.csv: no trial finished; see its train.log files");
}

// Runs `cvtrain search` on the config with `space` (key -> [lo, hi], log-uniform).
std::map<std::string, std::string> search(const TuneArgs& a, const std::string& exe, const std::string& dir,
                                          const std::vector<std::pair<std::string, std::pair<double, double>>>& space,
                                          int64_t trials, int64_t epochs) {
  std::string text;
  for (const auto& [key, range] : space) {
    char line[160];
    std::snprintf(line, sizeof line, "%s: {loguniform: [%.6g, %.6g]}\n", key.c_str(), range.first, range.second);
    text += line;
  }
  fs::create_directories(dir);
  write_text_atomic(dir + ".space.yaml", text);
  search::Job job;
  job.argv = {exe, "search", a.config, "--space", dir + ".space.yaml", "--trials", std::to_string(trials), "--jobs",
              std::to_string(a.jobs), "--seed", std::to_string(a.seed), "--out", dir, "--set",
              "train.epochs=" + std::to_string(epochs)};
  for (const std::string& o : a.overrides) job.argv.insert(job.argv.end(), {"--set", o});
  job.log = dir + ".log";
  if (search::run_jobs({job}, 1)[0] != 0) fail_input("tune: the search in ", dir, " failed; see ", job.log);
  return best_trial(dir);
}

double number(const std::map<std::string, std::string>& row, const std::string& key) {
  auto it = row.find(key);
  return it == row.end() || it->second.empty() ? NAN : std::stod(it->second);
}

std::string count(int64_t n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string pct(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
  return b;
}

}  // namespace

int cmd_tune(const TuneArgs& a, const std::string& self) {
  RunConfig cfg = load_config(a.config, a.overrides);
  const std::string out = a.out.empty() ? "runs/" + fs::path(a.config).stem().string() + "-tune" : a.out;
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail_input(out, ": cannot create the output folder: ", ec.message());
  std::string exe = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec || exe.empty()) exe = fs::absolute(self).string();
  apply_threads(cfg);
  if (cfg.device != "cpu") fail_input("device: tune's first checks run on the CPU so far; set device: cpu");
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  const Dataset train = load_split(cfg, Split::train);
  const Normalization norm = normalization_for(cfg.data, train);
  const Preprocess fitted =
      fit_preprocess(train, cfg.data.preprocess, cfg.data.preprocess_components, cfg.data.whiten_epsilon);
  const Preprocess* pre = fitted.is_channel() ? nullptr : &fitted;
  Record rec;

  const InitialLossCheck init = check_initial_loss(ctx, cfg, train, norm, pre);
  rec.step("initial loss", init.reading, {{"loss", init.loss}, {"expected", init.expected}, {"ok", init.ok}});
  const OverfitCheck fit_small = check_overfit(ctx, cfg, train, norm, pre);
  rec.step("overfit a small sample", fit_small.reading,
           {{"images", fit_small.images}, {"epochs", fit_small.epochs}, {"train_acc", fit_small.train_acc},
            {"ok", fit_small.ok}});

  auto model = make_model(cfg, train, ctx.rng, &fitted);
  apply_transfer(cfg, *model);
  const LrFindResult lf = lr_find(ctx, *model, cfg, train, norm, LrFindOptions{}, pre);
  write_text_atomic(out + "/lr_find.json", lr_find_json(lf) + "\n");
  // the coarse range: from the steepest descent (or a tenth of the minimum, when lower) up to the minimum,
  // where the loss stops falling (docs/lr-find.md: the best one-cycle peaks measured lay in there)
  const double lo = lf.suggested_lr > 0 ? std::min(lf.suggested_lr, lf.min_loss_lr / 10) : cfg.schedule.lr / 10;
  const double hi = lf.suggested_lr > 0 ? lf.min_loss_lr : cfg.schedule.lr * 10;
  char range[96];
  std::snprintf(range, sizeof range, "[%.3g, %.3g]", lo, hi);
  rec.step("learning-rate range test", lf.why + "; the coarse search tries optim.lr in " + range,
           {{"suggested_lr", lf.suggested_lr}, {"min_loss_lr", lf.min_loss_lr}, {"lr_range", {lo, hi}}});

  const auto coarse = search(a, exe, out + "/coarse", {{"optim.lr", {lo, hi}}, {"optim.weight_decay", {1e-5, 1e-2}}},
                             a.trials, a.coarse_epochs);
  const double lr = number(coarse, "optim.lr"), wd = number(coarse, "optim.weight_decay");
  rec.step("coarse search", count(a.trials, "trial") + " of " + count(a.coarse_epochs, "epoch") + ": the best has optim.lr " + coarse.at("optim.lr") + ", optim.weight_decay " +
                                coarse.at("optim.weight_decay") + ", val_acc " + pct(number(coarse, "val_acc")),
           {{"dir", out + "/coarse"}, {"lr", lr}, {"weight_decay", wd}, {"val_acc", number(coarse, "val_acc")}});

  const int64_t fine_trials = std::max<int64_t>(2, a.trials / 2);
  const int64_t fine_epochs = a.fine_epochs > 0 ? a.fine_epochs : cfg.train.epochs;
  const auto fine = search(a, exe, out + "/fine", {{"optim.lr", {lr / 2, lr * 2}}, {"optim.weight_decay", {wd / 3, wd * 3}}},
                           fine_trials, fine_epochs);
  const std::string best_dir = fine.at("dir");
  rec.step("fine search, trained longer",
           count(fine_trials, "trial") + " of " + count(fine_epochs, "epoch") + " around it: the best has "
               "optim.lr " + fine.at("optim.lr") + ", optim.weight_decay " + fine.at("optim.weight_decay") +
               ", val_acc " + pct(number(fine, "val_acc")) + " (test_acc " + pct(number(fine, "test_acc")) +
               ", reported, not chosen on)",
           {{"dir", best_dir}, {"val_acc", number(fine, "val_acc")}, {"test_acc", number(fine, "test_acc")}});

  const CurveReading reading = read_curves(read_run_history(best_dir), train.num_classes());
  std::string words;
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : reading.findings) {
    words += (words.empty() ? "" : " ") + f.reading + " " + f.advice;
    findings.push_back({{"rule", f.rule}, {"severity", severity_name(f.severity)}, {"reading", f.reading}, {"advice", f.advice}});
  }
  search::Job report{{exe, "report", best_dir}, out + "/report.log"};
  const bool reported = search::run_jobs({report}, 1)[0] == 0;
  rec.step("read the curves", (words.empty() ? "no rule of the lecture fires on this run's curves." : words) +
                                  (reported ? " The page: " + best_dir + "/report.html" : ""),
           {{"findings", findings}, {"report", reported ? best_dir + "/report.html" : ""}});

  std::ifstream best_cfg(fs::path(best_dir) / "config.yaml");
  std::stringstream recipe;
  recipe << "# cvtrain tune " << a.config << ": the best run of " << out << "/fine (val_acc " << pct(number(fine, "val_acc"))
         << ", test_acc " << pct(number(fine, "test_acc")) << "); cvtrain train " << out << "/recipe.yaml retrains it\n"
         << best_cfg.rdbuf();
  write_text_atomic(out + "/recipe.yaml", recipe.str());
  rec.step("recipe", out + "/recipe.yaml reproduces the best run", {{"recipe", out + "/recipe.yaml"}});
  write_text_atomic(out + "/tune.json", rec.steps.dump(2) + "\n");
  write_text_atomic(out + "/tune.md", "# cvtrain tune " + a.config + "\n\n" + rec.md);
  std::printf("-> %s/tune.md, %s/recipe.yaml\n", out.c_str(), out.c_str());
  return 0;
}

}  // namespace cvtrain::cli
