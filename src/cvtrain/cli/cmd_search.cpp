// `cvtrain search CONFIG.yaml --space SPACE.yaml --trials N [--jobs J] [--stages 2] [--halving ETA]
// [--set k=v]... [--out DIR]`: every trial is a `cvtrain train` child process with --set overrides
// in its own run folder under DIR; results.csv, best.yaml and plots/ at the end. Rerunning the same
// command resumes: trials whose folder holds a finished (or failed) run with the same values are
// read back, not rerun. The sampling, narrowing, halving and process pool are in train/search.h.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "cvtrain/base/files.h"
#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/search.h"

namespace cvtrain::cli {
namespace fs = std::filesystem;
using search::Assignment;
using search::Dist;
using search::Param;
using search::TrialResult;

namespace {

// SPACE.yaml: `key: {dist: [...]}`, keys written flat (optim.lr) or nested (optim: {lr: ...}).
void parse_space_node(const YAML::Node& node, const std::string& prefix, const std::string& origin,
                      std::vector<Param>& out) {
  static const std::vector<std::pair<std::string, Dist>> dists = {{"uniform", Dist::uniform},
                                                                  {"loguniform", Dist::loguniform},
                                                                  {"int", Dist::integer},
                                                                  {"choice", Dist::choice},
                                                                  {"grid", Dist::grid}};
  if (!node.IsMap()) fail_input(origin, ": ", prefix.empty() ? "the top level" : prefix, ": expected a mapping");
  for (const auto& kv : node) {
    const std::string key = (prefix.empty() ? "" : prefix + ".") + kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (!v.IsMap()) fail_input(origin, ": ", key, ": expected {uniform|loguniform|int|choice|grid: [...]}");
    const std::string first = v.begin()->first.as<std::string>();
    auto d = std::find_if(dists.begin(), dists.end(), [&](const auto& e) { return e.first == first; });
    if (d == dists.end()) {
      parse_space_node(v, key, origin, out);  // a section such as optim:
      continue;
    }
    if (v.size() != 1) fail_input(origin, ": ", key, ": one distribution per key");
    const YAML::Node list = v.begin()->second;
    if (!list.IsSequence()) fail_input(origin, ": ", key, ": ", first, ": expected a list");
    Param p;
    p.key = key;
    p.dist = d->second;
    if (p.dist == Dist::choice || p.dist == Dist::grid) {
      for (const auto& item : list) {
        if (!item.IsScalar()) fail_input(origin, ": ", key, ": ", first, ": values must be plain scalars");
        p.values.push_back(item.Scalar());
      }
    } else {
      if (list.size() != 2) fail_input(origin, ": ", key, ": ", first, ": expected [low, high]");
      try {
        p.lo = list[0].as<double>(), p.hi = list[1].as<double>();
      } catch (const YAML::Exception&) {
        fail_input(origin, ": ", key, ": ", first, ": expected two numbers");
      }
    }
    search::check_param(p, origin);
    out.push_back(std::move(p));
  }
}

std::vector<Param> load_space(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    fail_input(path, ": cannot open the space file");
  } catch (const YAML::Exception& e) {
    fail_input(path, ":", e.mark.line + 1, ": invalid YAML: ", e.msg);
  }
  std::vector<Param> space;
  parse_space_node(root, "", path, space);
  if (space.empty()) fail_input(path, ": no keys to search");
  return space;
}

std::string params_json(const Assignment& a) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : a) j[k] = v;
  return j.dump();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last error line a failed child printed.
std::string last_error(const fs::path& log) {
  std::ifstream in(log);
  std::string line, found;
  while (std::getline(in, line))
    if (line.find("error") != std::string::npos) found = line;
  return found.empty() ? "no error message (see " + log.string() + ")" : found;
}

bool has_key(const std::vector<std::string>& overrides, const std::vector<Param>& space, const std::string& key) {
  for (const auto& o : overrides)
    if (o.rfind(key + "=", 0) == 0) return true;
  for (const auto& p : space)
    if (p.key == key) return true;
  return false;
}

// One search: what every stage shares (the base command, its overrides, the epochs and the halving
// budgets), then per stage the assignments, the rungs of trials, and the narrowing.
class Search {
 public:
  Search(const SearchArgs& a, const std::string& self);
  int run();

 private:
  std::vector<std::string> overrides_of(const Assignment& params) const;
  search::Job trial_job(const std::string& dir, const Assignment& params, size_t rung) const;
  void check_and_announce(int64_t stage, const std::vector<Assignment>& assignments,
                          std::vector<TrialResult>& results) const;
  void run_rung(int64_t stage, size_t rung, const std::vector<Assignment>& assignments, std::vector<size_t>& alive,
                std::vector<TrialResult>& results);
  bool reuse_trial(const fs::path& dir, const Assignment& params, int64_t budget, TrialResult& res) const;
  void keep_best_of_rung(std::vector<size_t>& alive, const std::vector<TrialResult>& results) const;
  int finish();

  const SearchArgs& a_;
  std::vector<Param> space_;
  std::string out_, exe_;
  std::vector<std::string> common_;  // every trial's overrides
  int64_t epochs_;
  std::vector<int64_t> budgets_;  // epochs of each halving rung of this stage or bracket (one without halving)
  std::vector<int64_t> rungs_;    // every rung's epochs (hyperband: its brackets start at each)
  int64_t eta_ = 0;               // the halving factor (0: no halving)
  void warn_if_first_rung_in_warmup(const RunConfig& base) const;
  std::vector<TrialResult> all_;
  double t0_ = 0;  // when the search began (steady-clock seconds)
};

Search::Search(const SearchArgs& a, const std::string& self) : a_(a) {
  const RunConfig base = load_config(a.config, a.overrides);
  space_ = load_space(a.space);
  out_ = a.out.empty() ? "runs/search-" + fs::path(a.config).stem().string() : a.out;
  std::error_code ec;
  fs::create_directories(out_, ec);
  if (ec) fail_input(out_, ": cannot create the output folder: ", ec.message());
  exe_ = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec || exe_.empty()) exe_ = fs::absolute(self).string();
  common_ = a.overrides;
  common_.push_back("train.progress=false");
  if (has_key({}, space_, "data.val_fraction"))
    fail_input(a.space, ": data.val_fraction: the validation split ranks the trials; it cannot be searched");
  if (!has_validation_split(base.data)) {  // trials are ranked on a validation split, never on the test set
    RunConfig held = base;
    held.data.val_fraction = auto_val_fraction;
    common_.push_back("data.val_fraction=" + config_value(held, "data.val_fraction"));
    std::printf("search: trials are ranked on a validation split; holding out %s of the training set in each "
                "(data.val_fraction, stratified, seed %lld); the test set is reported, never ranked on\n",
                config_value(held, "data.val_fraction").c_str(), static_cast<long long>(base.seed));
  }
  if (a.jobs > 1 && !has_key(a.overrides, space_, "threads")) {
    const int64_t all = base.threads > 0 ? base.threads : static_cast<int64_t>(std::thread::hardware_concurrency());
    common_.push_back("threads=" + std::to_string(std::max<int64_t>(1, all / a.jobs)));
  }
  epochs_ = base.train.epochs;
  eta_ = a.hyperband && a.halving < 2 ? 3 : a.halving;
  if (a.hyperband && a.trials > 0) fail_input("search --hyperband: each bracket's trials follow from ETA; drop --trials");
  if (a.hyperband && a.stages > 1) fail_input("search --hyperband: its brackets are the stages; drop --stages");
  if (eta_ >= 2 && base.train.max_steps > 0)
    fail_input("search --halving: its budgets are epochs, and train.max_steps ", base.train.max_steps,
               " would end each rung's run on its own; set train.epochs instead");
  rungs_ = budgets_ = search::halving_budgets(epochs_, eta_);
  warn_if_first_rung_in_warmup(base);
  if (eta_ >= 2 && budgets_.size() == 1)
    std::printf("search: halving by %lld needs train.epochs >= %lld; running every trial to the end\n",
                static_cast<long long>(eta_), static_cast<long long>(eta_));
}

// A rung that ends while the lr still rises ranks trials by how far their warmup got, which favours
// low peak lrs (docs/search.md measured the reversal): say so before any trial runs.
void Search::warn_if_first_rung_in_warmup(const RunConfig& base) const {
  if (eta_ < 2 || rungs_.size() < 2) return;
  const optim::ScheduleOptions& s = base.schedule;
  double warmup = static_cast<double>(s.warmup_epochs);  // in epochs
  std::string what = "optim.warmup_epochs " + std::to_string(s.warmup_epochs);
  if (s.name == "onecycle" && s.pct_start * static_cast<double>(epochs_) > warmup) {
    warmup = s.pct_start * static_cast<double>(epochs_);
    what = "onecycle's rise, optim.pct_start " + config_value(base, "optim.pct_start") + " of " +
           std::to_string(epochs_) + " epochs";
  }
  if (static_cast<double>(rungs_.front()) < warmup)
    std::printf("search: warning: the first rung ends after %lld epoch%s, inside the lr warmup (%s); trials are "
                "ranked while their lr still rises, which favours low lrs: give the first rung more epochs, or "
                "search with a schedule without warmup (docs/search.md)\n",
                static_cast<long long>(rungs_.front()), rungs_.front() == 1 ? "" : "s", what.c_str());
}

std::vector<std::string> Search::overrides_of(const Assignment& params) const {
  std::vector<std::string> o = common_;
  for (const auto& [k, v] : params) o.push_back(k + "=" + v);
  return o;
}

// A bad key or value stops the search before any run.
void Search::check_and_announce(int64_t stage, const std::vector<Assignment>& assignments,
                                std::vector<TrialResult>& results) const {
  for (size_t i = 0; i < assignments.size(); ++i) {
    results[i].stage = stage, results[i].index = static_cast<int64_t>(i);
    results[i].params = assignments[i];
    load_config(a_.config, overrides_of(assignments[i]));
  }
  std::printf("search: stage %lld, %zu trials over", static_cast<long long>(stage), assignments.size());
  for (const Param& p : space_) {
    std::printf(" %s~%s", p.key.c_str(), search::dist_name(p.dist));
    if (p.dist == Dist::choice || p.dist == Dist::grid) std::printf("(%zu values)", p.values.size());
    else std::printf("[%g, %g]", p.lo, p.hi);
  }
  std::printf(", %lld at a time -> %s\n", static_cast<long long>(a_.jobs), out_.c_str());
  std::fflush(stdout);
}

// Resume: a trial folder holding the same values and a run that reached `budget` (or a recorded
// failure) is read back.
bool Search::reuse_trial(const fs::path& dir, const Assignment& params, int64_t budget, TrialResult& res) const {
  const fs::path info = dir / "trial.json";
  const bool same = fs::exists(info) && read_text(info) == params_json(params) + "\n";
  if (same && fs::exists(dir / "failed.txt")) {  // a recorded failure stays failed
    res.status = "failed", res.error = read_text(dir / "failed.txt");
    return true;
  }
  if (same && search::read_trial(dir.string(), res, budget == epochs_ ? 0 : budget)) {
    res.status = "ok";
    return true;
  }
  return false;
}

// The command of a trial's rung: the first one starts the run (planned for train.epochs), a later one
// continues it from its checkpoint; each pauses at the rung's budget (--until-epoch) but the last.
search::Job Search::trial_job(const std::string& dir, const Assignment& params, size_t rung) const {
  search::Job job;
  if (rung == 0) {
    job.argv = {exe_, "train", a_.config};
    for (const std::string& o : overrides_of(params)) job.argv.insert(job.argv.end(), {"--set", o});
    job.argv.insert(job.argv.end(), {"--out", dir, "--overwrite"});
  } else {
    job.argv = {exe_, "train", "--resume", dir};
    job.append = true;
  }
  if (budgets_[rung] < epochs_) job.argv.insert(job.argv.end(), {"--until-epoch", std::to_string(budgets_[rung])});
  job.log = (fs::path(dir) / "train.log").string();
  return job;
}

// The alive trials at this rung's budget: reused where done, the rest run `jobs` at a time.
void Search::run_rung(int64_t stage, size_t rung, const std::vector<Assignment>& assignments,
                      std::vector<size_t>& alive, std::vector<TrialResult>& results) {
  const int64_t budget = budgets_[rung];
  std::vector<search::Job> jobs;
  std::vector<size_t> job_trial;
  int64_t reused = 0;
  for (size_t i : alive) {
    char name[64];
    std::snprintf(name, sizeof name, "s%lld-t%03zu", static_cast<long long>(stage), i);
    const std::string dir = (fs::path(out_) / name).string();
    TrialResult& res = results[i];
    res.dir = dir;
    res.epochs = budget;
    if (reuse_trial(dir, assignments[i], budget, res)) {
      ++reused;
      continue;
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail_input(dir, ": cannot create the trial folder: ", ec.message());
    fs::remove(fs::path(dir) / "failed.txt", ec);
    write_text_atomic((fs::path(dir) / "trial.json").string(), params_json(assignments[i]) + "\n");
    jobs.push_back(trial_job(dir, assignments[i], rung));
    job_trial.push_back(i);
  }
  if (budgets_.size() > 1)
    std::printf("search: stage %lld rung %zu: %zu trials at %lld epochs (%lld already done)\n",
                static_cast<long long>(stage), rung + 1, alive.size(), static_cast<long long>(budget),
                static_cast<long long>(reused));
  else if (reused > 0)
    std::printf("search: %lld trials already done in %s, %zu to run\n", static_cast<long long>(reused), out_.c_str(),
                jobs.size());
  std::fflush(stdout);
  std::vector<double> ended;
  const std::vector<int> status = search::run_jobs(jobs, a_.jobs, &ended);
  for (size_t j = 0; j < jobs.size(); ++j) {
    TrialResult& res = results[job_trial[j]];
    if (status[j] == 0 && search::read_trial(res.dir, res, budget == epochs_ ? 0 : budget)) {
      res.status = "ok", res.error.clear();
      res.finished_s = ended[j] - t0_;
    } else {
      res.status = "failed";
      if (status[j] != 0) res.error = "exit " + std::to_string(status[j]) + ": " + last_error(jobs[j].log);
      write_text_atomic((fs::path(res.dir) / "failed.txt").string(), res.error);
    }
    std::printf("  trial s%lld-t%03lld: %s", static_cast<long long>(stage), static_cast<long long>(res.index),
                res.status.c_str());
    if (res.status == "ok") std::printf("  val_acc %.2f%%  test_acc %.2f%%", 100 * res.metric, 100 * res.test_acc);
    else std::printf("  (%s)", res.error.c_str());
    std::printf("  %s\n", params_json(res.params).c_str());
    std::fflush(stdout);
  }
}

// Successive halving: the best 1/eta of the rung go on, the others stop here.
void Search::keep_best_of_rung(std::vector<size_t>& alive, const std::vector<TrialResult>& results) const {
  std::vector<size_t> ok;
  for (size_t i : alive)
    if (results[i].status == "ok") ok.push_back(i);
  std::stable_sort(ok.begin(), ok.end(), [&](size_t x, size_t y) { return results[x].metric > results[y].metric; });
  const auto keep = static_cast<size_t>(search::halving_keep(static_cast<int64_t>(ok.size()), eta_));
  ok.resize(std::min(keep, ok.size()));
  alive = ok;
}

int Search::run() {
  t0_ = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  const int64_t K = static_cast<int64_t>(rungs_.size()) - 1;
  const int64_t stages = a_.hyperband ? K + 1 : a_.stages;
  for (int64_t stage = 1; stage <= stages; ++stage) {
    const bool grid_only =
        std::all_of(space_.begin(), space_.end(), [](const Param& p) { return p.dist == Dist::grid; });
    int64_t n = grid_only ? search::grid_size(space_) : a_.trials > 0 ? a_.trials : 16;
    if (a_.hyperband) {  // bracket s = K - (stage - 1): from rung K - s's budget to the full length
      const int64_t s = K - (stage - 1);
      budgets_.assign(rungs_.begin() + (K - s), rungs_.end());
      n = search::hyperband_trials(K + 1, s, eta_);
      std::printf("search: hyperband bracket %lld of %lld: %lld trials from %lld epochs\n", static_cast<long long>(stage),
                  static_cast<long long>(K + 1), static_cast<long long>(n), static_cast<long long>(budgets_.front()));
    }
    const std::vector<Assignment> assignments = search::make_assignments(space_, n, a_.seed, stage);
    std::vector<TrialResult> results(static_cast<size_t>(n));
    check_and_announce(stage, assignments, results);
    std::vector<size_t> alive(assignments.size());
    for (size_t i = 0; i < alive.size(); ++i) alive[i] = i;
    for (size_t rung = 0; rung < budgets_.size(); ++rung) {
      run_rung(stage, rung, assignments, alive, results);
      if (rung + 1 == budgets_.size()) break;
      const std::vector<size_t> before = alive;
      keep_best_of_rung(alive, results);
      for (size_t i : before)
        if (results[i].status == "ok" && std::find(alive.begin(), alive.end(), i) == alive.end())
          results[i].status = "stopped";
    }
    all_.insert(all_.end(), results.begin(), results.end());
    if (!a_.hyperband && stage < a_.stages) {  // coarse to fine: narrow around the best quarter of this stage
      std::vector<TrialResult> sorted = results;
      search::sort_results(sorted);
      std::vector<Assignment> best;
      const size_t k = std::max<size_t>(2, sorted.size() / 4);
      for (const TrialResult& r : sorted)
        if (r.status == "ok" && best.size() < k) best.push_back(r.params);
      space_ = search::narrow_space(space_, best);
    }
  }
  return finish();
}

// results.csv, the table, the plots, and best.yaml (the best trial's resolved config).
int Search::finish() {
  search::sort_results(all_);
  write_text_atomic((fs::path(out_) / "results.csv").string(), search::results_csv(all_, space_));
  std::printf("\n%s", search::results_table(all_, space_, 40).c_str());
  const auto plots = search::scatter_plots(out_, space_, all_);
  int64_t failed = 0;
  for (const auto& r : all_) failed += r.status == "failed";
  if (all_.front().status == "failed")  // the trials' own errors are the user's to fix: the first one says which
    fail_input("search: every trial failed (", all_.size(), " of them); the first: ", all_.front().error, "; see ",
               out_, "/results.csv and each trial's train.log");
  const TrialResult& best = all_.front();
  write_text_atomic((fs::path(out_) / "best.yaml").string(), read_text(fs::path(best.dir) / "config.yaml"));
  std::printf("best: val_acc %.2f%%, test_acc %.2f%% (%s) -> %s/best.yaml, results.csv, %zu plots in %s/plots; %lld "
              "failed\n",
              100 * best.metric, 100 * best.test_acc, best.dir.c_str(), out_.c_str(), plots.size(), out_.c_str(),
              static_cast<long long>(failed));
  return 0;
}

}  // namespace

int cmd_search(const SearchArgs& a, const std::string& self) {
  Search search(a, self);
  return search.run();
}

}  // namespace cvtrain::cli
