// The subcommands of the program, one function each (cmd_*.cpp), and what they share: turning a
// RunConfig into data, a model and model-file metadata. Each returns the process exit code.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/train/run_config.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain::cli {

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  bool overwrite = false;
  std::string resume;  // a run folder to continue from its newest good checkpoint
};
struct ScheduleArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool json = false;
  std::string out;  // a PNG of the lr per step
};
struct EvalArgs {
  std::string run;  // a run folder or a model.safetensors file
  std::vector<std::string> overrides;
  bool json = false;
  std::string tta = "none";  // none | flip | 5crop | 10crop
};
struct BenchArgs {
  std::string config;
  std::vector<std::string> overrides;
  int64_t steps = 30;
  bool json = false;
};
struct DiagnoseArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  int64_t batches = 3;
};
struct ConfigArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool reference = false;
};

struct PreviewArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out = "augment.png";
  int64_t images = 6;  // rows
  int64_t views = 8;   // augmentations per image
  int64_t scale = 3;   // pixel magnification
};

int cmd_train(const TrainArgs& a);
int cmd_preview(const PreviewArgs& a);
int cmd_augmentations();
int cmd_eval(const EvalArgs& a);
int cmd_bench(const BenchArgs& a);
int cmd_config(const ConfigArgs& a);
int cmd_models();
int cmd_schedule(const ScheduleArgs& a);
int cmd_diagnose(const DiagnoseArgs& a);

// Shared setup.
void apply_threads(const RunConfig& cfg);  // OpenMP's thread count, once per process
// pre: a fitted data.preprocess that changes the input shape (null or "channel": the images' shape).
std::shared_ptr<nn::Module> make_model(const RunConfig& cfg, const Dataset& like, Rng& rng,
                                       const Preprocess* pre = nullptr);
std::map<std::string, std::string> model_metadata(const RunConfig& cfg, const Normalization& norm);
Normalization normalization_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin);
// data.dataset/root/limit_{train,test}/val_fraction/on_bad_file and the seed, for load_dataset.
DatasetOptions dataset_options(const RunConfig& cfg, Split split);
// The fitted data.preprocess transform travels as the "preprocess_fit" entry (absent for "channel").
void add_preprocess_metadata(std::map<std::string, std::string>& meta, const Preprocess& fitted);
Preprocess preprocess_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin);
// Test-time augmentation (eval_tta.cpp): probabilities averaged over the views of data/tta.h.
EvalResult evaluate_tta(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                        const Preprocess& fitted, int64_t batch_size, const std::string& mode, int64_t pad);
// The crop padding of the config's first `crop` augmentation (the shift seen in training), else 2.
int64_t tta_padding(const RunConfig& cfg);

}  // namespace cvtrain::cli
