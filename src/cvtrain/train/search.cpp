// Search: sampling and narrowing spaces, halving budgets, the child-process pool, results.
#include "cvtrain/train/search.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/viz/plot.h"

namespace cvtrain::search {
namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

// splitmix64 (Steele et al. 2014): decorrelates the seeds of neighbouring trials.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double to_double(const std::string& s, bool& ok) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    ok = used == s.size();
    return v;
  } catch (const std::exception&) {
    ok = false;
    return 0;
  }
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

const char* dist_name(Dist d) {
  switch (d) {
    case Dist::uniform: return "uniform";
    case Dist::loguniform: return "loguniform";
    case Dist::integer: return "int";
    case Dist::choice: return "choice";
    default: return "grid";
  }
}

void check_param(const Param& p, const std::string& origin) {
  const std::string at = origin + ": " + p.key + ": " + dist_name(p.dist);
  switch (p.dist) {
    case Dist::uniform:
      if (!(p.lo <= p.hi)) fail_input(at, ": expected [low, high] with low <= high");
      break;
    case Dist::loguniform:
      if (!(p.lo > 0 && p.lo <= p.hi)) fail_input(at, ": expected [low, high] with 0 < low <= high");
      break;
    case Dist::integer:
      if (!(p.lo <= p.hi) || p.lo != std::floor(p.lo) || p.hi != std::floor(p.hi))
        fail_input(at, ": expected [low, high], integers with low <= high");
      break;
    default:
      if (p.values.empty()) fail_input(at, ": expected a non-empty list of values");
  }
}

std::string sample_value(const Param& p, Rng& rng) {
  switch (p.dist) {
    case Dist::uniform: return num(p.lo + static_cast<double>(rng.uniform()) * (p.hi - p.lo));
    case Dist::loguniform: {
      const double a = std::log(p.lo), b = std::log(p.hi);
      return num(std::exp(a + static_cast<double>(rng.uniform()) * (b - a)));
    }
    case Dist::integer: {
      const auto span = static_cast<uint64_t>(p.hi - p.lo) + 1;
      return std::to_string(static_cast<int64_t>(p.lo) + static_cast<int64_t>(rng.below(span)));
    }
    case Dist::choice: return p.values[rng.below(p.values.size())];
    default: CHECK(false, "sample_value: a grid parameter is not sampled");
  }
}

int64_t grid_size(const std::vector<Param>& space) {
  int64_t g = 1;
  for (const Param& p : space)
    if (p.dist == Dist::grid) g *= static_cast<int64_t>(p.values.size());
  return g;
}

std::vector<Assignment> make_assignments(const std::vector<Param>& space, int64_t n, uint64_t seed, int64_t stage) {
  std::vector<Assignment> out;
  const int64_t G = grid_size(space);
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(mix(mix(seed) ^ mix(static_cast<uint64_t>(stage) * 1000003u + static_cast<uint64_t>(i))));
    int64_t point = i % G, stride = G;
    Assignment a;
    for (const Param& p : space) {
      if (p.dist == Dist::grid) {
        stride /= static_cast<int64_t>(p.values.size());
        a.emplace_back(p.key, p.values[static_cast<size_t>(point / stride)]);
        point %= stride;
      } else {
        a.emplace_back(p.key, sample_value(p, rng));
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<Param> narrow_space(const std::vector<Param>& space, const std::vector<Assignment>& best) {
  if (best.empty()) return space;
  std::vector<Param> out;
  for (size_t k = 0; k < space.size(); ++k) {
    Param p = space[k];
    std::vector<std::string> used;
    for (const Assignment& a : best)
      if (std::find(used.begin(), used.end(), a[k].second) == used.end()) used.push_back(a[k].second);
    if (p.dist == Dist::choice || p.dist == Dist::grid) {
      std::vector<std::string> kept;
      for (const std::string& v : p.values)
        if (std::find(used.begin(), used.end(), v) != used.end()) kept.push_back(v);
      if (!kept.empty()) p.values = kept;
    } else {
      const bool logs = p.dist == Dist::loguniform;
      auto f = [&](double v) { return logs ? std::log(v) : v; };
      auto g = [&](double v) { return logs ? std::exp(v) : v; };
      double lo = INFINITY, hi = -INFINITY;
      for (const std::string& s : used) {
        bool ok = false;
        const double v = to_double(s, ok);
        if (ok) lo = std::min(lo, f(v)), hi = std::max(hi, f(v));
      }
      if (lo <= hi) {
        const double old_lo = f(p.lo), old_hi = f(p.hi);
        const double pad = std::max(0.25 * (hi - lo), 0.05 * (old_hi - old_lo));
        p.lo = g(std::max(old_lo, lo - pad));
        p.hi = g(std::min(old_hi, hi + pad));
        if (p.dist == Dist::integer) p.lo = std::floor(p.lo), p.hi = std::ceil(p.hi);
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<int64_t> halving_budgets(int64_t epochs, int64_t eta) {
  std::vector<int64_t> b{epochs};
  if (eta < 2) return b;
  while (b.front() / eta >= 1 && b.front() / eta < b.front()) b.insert(b.begin(), b.front() / eta);
  return b;
}

int64_t hyperband_trials(int64_t rungs, int64_t s, int64_t eta) {
  double power = 1;
  for (int64_t i = 0; i < s; ++i) power *= static_cast<double>(eta);
  return static_cast<int64_t>(std::ceil(static_cast<double>(rungs) / static_cast<double>(s + 1) * power - 1e-9));
}

int64_t halving_keep(int64_t n, int64_t eta) { return eta < 2 ? n : std::max<int64_t>(1, (n + eta - 1) / eta); }

bool read_trial(const std::string& dir, TrialResult& r, int64_t upto) {
  namespace fs = std::filesystem;
  if (upto == 0 && !fs::exists(fs::path(dir) / "model.safetensors")) {
    r.error = "no model.safetensors (the run did not finish)";
    return false;
  }
  std::ifstream in(fs::path(dir) / "metrics.jsonl");
  std::string line;
  r.metric = r.best_metric = r.test_acc = NAN;
  r.seconds = 0;
  r.epochs = 0, r.steps = 0;
  bool diverged = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      r.error = "metrics.jsonl: unreadable line";
      return false;
    }
    const int64_t epoch = j.value("epoch", int64_t{0});
    if (upto > 0 && epoch > upto) break;  // a later rung's epochs
    r.epochs = epoch;
    r.steps = j.value("step", r.steps);
    if (j.contains("seconds") && j["seconds"].is_number()) r.seconds += j["seconds"].get<double>();
    if (!j.contains("train_loss") || !j["train_loss"].is_number()) diverged = true;
    if (j.contains("val_acc") && j["val_acc"].is_number()) {
      r.metric = j["val_acc"].get<double>();
      if (!(r.best_metric >= r.metric)) r.best_metric = r.metric;
      r.test_acc = j.contains("test_acc") && j["test_acc"].is_number() ? j["test_acc"].get<double>() : NAN;
    }
  }
  if (upto > 0 && r.epochs < upto) {
    r.error = "the run has not reached epoch " + std::to_string(upto);
    return false;
  }
  if (diverged || !std::isfinite(r.metric)) {
    r.error = diverged ? "diverged (non-finite training loss)"
                       : "no validation accuracy in metrics.jsonl (a trial must have data.val_fraction)";
    return false;
  }
  return true;
}

std::vector<int> run_jobs(const std::vector<Job>& jobs, int64_t parallel, std::vector<double>* ended) {
  std::vector<int> status(jobs.size(), -1);
  if (ended) ended->assign(jobs.size(), 0.0);
  std::map<pid_t, size_t> running;
  size_t next = 0;
  auto wait_one = [&] {
    int st = 0;
    const pid_t pid = waitpid(-1, &st, 0);
    if (pid < 0) return;
    auto it = running.find(pid);
    if (it == running.end()) return;  // not ours
    status[it->second] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (ended)
      (*ended)[it->second] =
          std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    running.erase(it);
  };
  while (next < jobs.size() || !running.empty()) {
    while (next < jobs.size() && static_cast<int64_t>(running.size()) < std::max<int64_t>(parallel, 1)) {
      const Job& j = jobs[next];
      std::vector<char*> argv;
      for (const std::string& s : j.argv) argv.push_back(const_cast<char*>(s.c_str()));
      argv.push_back(nullptr);
      std::fflush(nullptr);
      const pid_t pid = fork();
      if (pid < 0) fail_input("search: cannot start a trial process (fork failed)");
      if (pid == 0) {
        const int fd = open(j.log.c_str(), O_WRONLY | O_CREAT | (j.append ? O_APPEND : O_TRUNC), 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
        execv(argv[0], argv.data());
        std::fprintf(stderr, "search: cannot run %s\n", argv[0]);
        _exit(127);
      }
      running[pid] = next++;
    }
    if (!running.empty()) wait_one();
  }
  return status;
}

void sort_results(std::vector<TrialResult>& results) {
  auto rank = [](const TrialResult& r) { return r.status == "ok" ? 0 : r.status == "stopped" ? 1 : 2; };
  std::stable_sort(results.begin(), results.end(), [&](const TrialResult& a, const TrialResult& b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    if (rank(a) == 2) return false;
    return a.metric > b.metric;
  });
}

std::string results_csv(const std::vector<TrialResult>& results, const std::vector<Param>& space) {
  std::ostringstream o;
  o << "rank,stage,trial,status,val_acc,best_val_acc,test_acc,epochs,steps,seconds,finished_s";
  for (const Param& p : space) o << "," << csv_field(p.key);
  o << ",dir,error\n";
  int64_t rank = 0;
  for (const TrialResult& r : results) {
    o << ++rank << "," << r.stage << "," << r.index << "," << r.status << ","
      << (std::isfinite(r.metric) ? num(r.metric) : "") << "," << (std::isfinite(r.best_metric) ? num(r.best_metric) : "")
      << "," << (std::isfinite(r.test_acc) ? num(r.test_acc) : "") << "," << r.epochs << "," << r.steps << ","
      << num(r.seconds) << "," << num(r.finished_s);
    for (const auto& [k, v] : r.params) o << "," << csv_field(v);
    o << "," << csv_field(r.dir) << "," << csv_field(r.error) << "\n";
  }
  return o.str();
}

std::string results_table(const std::vector<TrialResult>& results, const std::vector<Param>& space, size_t max_rows) {
  std::ostringstream o;
  char b[256];
  std::snprintf(b, sizeof b, "%4s %5s %5s %-8s %8s %8s %6s", "rank", "stage", "trial", "status", "val_acc", "test_acc",
                "epochs");
  o << b;
  for (const Param& p : space) o << "  " << p.key;
  o << "\n";
  size_t rank = 0;
  for (const TrialResult& r : results) {
    if (++rank > max_rows) {
      o << "  ... " << results.size() - max_rows << " more in results.csv\n";
      break;
    }
    char acc[16] = "       -", test[16] = "       -";
    if (std::isfinite(r.metric)) std::snprintf(acc, sizeof acc, "%7.2f%%", 100 * r.metric);
    if (std::isfinite(r.test_acc)) std::snprintf(test, sizeof test, "%7.2f%%", 100 * r.test_acc);
    std::snprintf(b, sizeof b, "%4zu %5lld %5lld %-8s %8s %8s %6lld", rank, static_cast<long long>(r.stage),
                  static_cast<long long>(r.index), r.status.c_str(), acc, test, static_cast<long long>(r.epochs));
    o << b;
    for (size_t k = 0; k < space.size(); ++k) {
      std::snprintf(b, sizeof b, "  %*s", static_cast<int>(space[k].key.size()), r.params[k].second.c_str());
      o << b;
    }
    if (r.status == "failed") o << "  (" << (r.error.size() > 80 ? r.error.substr(0, 77) + "..." : r.error) << ")";
    o << "\n";
  }
  return o.str();
}

std::vector<std::string> scatter_plots(const std::string& dir, const std::vector<Param>& space,
                                       const std::vector<TrialResult>& results) {
  namespace fs = std::filesystem;
  std::vector<std::string> written;
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "plots", ec);
  for (size_t k = 0; k < space.size(); ++k) {
    const Param& p = space[k];
    const bool categorical = p.dist == Dist::choice || p.dist == Dist::grid;
    // x of each result (NaN when not plottable)
    std::vector<double> xs, ys;
    std::vector<int64_t> stages;
    for (const TrialResult& r : results) {
      if (r.status == "failed" || !std::isfinite(r.metric)) continue;
      bool ok = false;
      double x = to_double(r.params[k].second, ok);
      if (categorical && (!ok || p.dist == Dist::choice)) {
        const auto it = std::find(p.values.begin(), p.values.end(), r.params[k].second);
        x = static_cast<double>(it - p.values.begin()), ok = it != p.values.end();
      }
      if (!ok) continue;
      if (p.dist == Dist::loguniform) x = std::log10(x);
      xs.push_back(x), ys.push_back(100 * r.metric), stages.push_back(r.stage);
    }
    if (xs.empty()) continue;
    std::map<int64_t, viz::Series> by_stage;  // a marker per trial, a shape per stage
    for (size_t i = 0; i < xs.size(); ++i) {
      viz::Series& s = by_stage[stages[i]];
      s.label = "stage " + std::to_string(stages[i]);
      s.scatter = true;
      s.x.push_back(xs[i]), s.y.push_back(ys[i]);
    }
    std::vector<viz::Series> series;
    for (auto& [stage, s] : by_stage) series.push_back(std::move(s));
    if (series.size() == 1) series[0].label.clear();
    std::string xlabel = p.dist == Dist::loguniform ? "log10(" + p.key + ")" : p.key;
    if (p.dist == Dist::choice) {
      xlabel += " (choice index:";
      for (size_t v = 0; v < p.values.size(); ++v) xlabel += " " + std::to_string(v) + "=" + p.values[v];
      xlabel += ")";
    }
    const std::string path = (fs::path(dir) / "plots" / (p.key + ".png")).string();
    viz::line_chart_png(path, "validation accuracy against " + p.key + " (" + std::to_string(xs.size()) + " trials)", xlabel,
                        "validation accuracy (%)", series);
    written.push_back(path);
  }
  return written;
}

}  // namespace cvtrain::search
