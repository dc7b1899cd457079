// Hyperparameter search (Bergstra & Bengio 2012, "Random search for hyper-parameter optimization"):
// sampling trials from a space of config keys (uniform, log-uniform, integer, choice, and a grid
// crossed with them), narrowing the space around the best trials (coarse to fine), successive
// halving budgets (Jamieson & Talwalkar 2016), a pool of child processes, reading a finished
// trial's metric, and the results (CSV, scatter plots). Not the YAML parsing of SPACE files nor the
// command line (cli/cmd_search.cpp), and not training (each trial is a `cvtrain train` process).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/tensor/rng.h"

namespace cvtrain::search {

enum class Dist { uniform, loguniform, integer, choice, grid };
const char* dist_name(Dist d);  // "uniform", "loguniform", "int", "choice", "grid"

struct Param {
  std::string key;  // a config key, e.g. optim.lr
  Dist dist = Dist::uniform;
  double lo = 0, hi = 0;            // uniform, loguniform (lo > 0), integer (inclusive)
  std::vector<std::string> values;  // choice, grid: the values as YAML scalars
};

// key -> value as it goes after --set key=, in the space's order
using Assignment = std::vector<std::pair<std::string, std::string>>;

// Checks lo/hi and values (InputError naming `origin` and the key).
void check_param(const Param& p, const std::string& origin);

// One draw: uniform lo + u (hi - lo); loguniform exp(U(log lo, log hi)); integer U{lo..hi};
// choice one of the values, equally likely. Numbers print with 6 significant digits.
std::string sample_value(const Param& p, Rng& rng);

// Points of the grid: the product of the grid parameters' value counts (1 without any).
int64_t grid_size(const std::vector<Param>& space);

// The assignments of `n` trials: trial i takes grid point i mod grid_size (first key varying
// slowest) and its own draws of the other keys, from a stream that depends only on (seed, stage, i),
// so a resumed search regenerates the same trials.
std::vector<Assignment> make_assignments(const std::vector<Param>& space, int64_t n, uint64_t seed, int64_t stage);

// Coarse to fine: each numeric range shrunk to the span of the `best` trials' values widened by a
// quarter of that span on each side (in log space for loguniform), within the old range; choice and
// grid keep only the values the best trials used.
std::vector<Param> narrow_space(const std::vector<Param>& space, const std::vector<Assignment>& best);

// Successive halving's epoch budgets for `epochs` and reduction factor eta >= 2: epochs / eta^k for
// k = K..0 (at least 1, increasing, the last is `epochs`); {epochs} when eta < 2. A trial is one run
// planned for `epochs`, paused at each budget and continued from its checkpoint when promoted.
std::vector<int64_t> halving_budgets(int64_t epochs, int64_t eta);
// How many of n trials continue to the next rung: ceil(n / eta).
int64_t halving_keep(int64_t n, int64_t eta);
// Hyperband (Li et al. 2018, Algorithm 1): with K + 1 = `rungs` budgets, bracket s (K down to 0) is a
// successive halving that starts ceil((K + 1) / (s + 1) * eta^s) trials at the budget of rung K - s.
int64_t hyperband_trials(int64_t rungs, int64_t s, int64_t eta);

struct TrialResult {
  int64_t stage = 1, index = 0;
  Assignment params;
  std::string status = "pending";  // ok | failed | stopped (successive halving) | pending
  double metric = NAN;             // val_acc of the trial's last evaluated epoch: what trials are ranked by
  double best_metric = NAN;        // its best val_acc
  double test_acc = NAN;           // test_acc of that last epoch: reported beside, never ranked by
  int64_t epochs = 0;              // the budget it ran
  int64_t steps = 0;               // optimizer steps it trained
  double seconds = 0;              // training time (evaluation excluded)
  double finished_s = 0;           // when it reached its budget, in seconds since the search began
  std::string dir, error;
};

// Reads a run folder at epoch `upto` (0: the finished run, which has model.safetensors): metrics.jsonl's
// rows up to it, the metric that of its last evaluated one (val_acc, best over those epochs, test_acc,
// steps, time). False with `error` set when the folder holds no such run (unfinished, or paused before
// `upto`), the run had no validation split, or the metrics are not finite.
bool read_trial(const std::string& dir, TrialResult& r, int64_t upto = 0);

// Runs each argv (argv[0]: the program) as a child process, at most `parallel` at a time, with
// stdout and stderr to its log file (appended to with `append`). Returns each one's exit status
// (128 + signal when killed); `ended`, when given, receives when each one ended (steady-clock seconds).
struct Job {
  std::vector<std::string> argv;
  std::string log;
  bool append = false;
};
std::vector<int> run_jobs(const std::vector<Job>& jobs, int64_t parallel, std::vector<double>* ended = nullptr);

// Results sorted: ok and stopped trials by metric (higher first; ok before stopped), then failed.
void sort_results(std::vector<TrialResult>& results);
std::string results_csv(const std::vector<TrialResult>& results, const std::vector<Param>& space);
// A printed table of the same.
std::string results_table(const std::vector<TrialResult>& results, const std::vector<Param>& space, size_t max_rows);
// OUT/plots/<key>.png: the metric against each searched key (log10 x for loguniform; choices by
// index), one marker series per stage. Returns the files written.
std::vector<std::string> scatter_plots(const std::string& dir, const std::vector<Param>& space,
                                       const std::vector<TrialResult>& results);

}  // namespace cvtrain::search
