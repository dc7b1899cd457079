// The subcommands of the program, one function each (cmd_*.cpp), and what they share: turning a
// RunConfig into data, a model and model-file metadata. Each returns the process exit code.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain::cli {

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  bool overwrite = false;
};
struct EvalArgs {
  std::string run;  // a run folder or a model.safetensors file
  std::vector<std::string> overrides;
  bool json = false;
};
struct BenchArgs {
  std::string config;
  std::vector<std::string> overrides;
  int64_t steps = 30;
  bool json = false;
};
struct ConfigArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool reference = false;
};

int cmd_train(const TrainArgs& a);
int cmd_eval(const EvalArgs& a);
int cmd_bench(const BenchArgs& a);
int cmd_config(const ConfigArgs& a);
int cmd_models();

// Shared setup.
void apply_threads(const RunConfig& cfg);  // OpenMP's thread count, once per process
std::shared_ptr<nn::Module> make_model(const RunConfig& cfg, const Dataset& like, Rng& rng);
std::map<std::string, std::string> model_metadata(const RunConfig& cfg, const Normalization& norm);
Normalization normalization_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin);

}  // namespace cvtrain::cli
