// The subcommands of the program, one function each (cmd_*.cpp), and what they share: turning a
// RunConfig into data, a model and model-file metadata. Each returns the process exit code.
#pragma once
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/run_config.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/trainer.h"
#include "cvtrain/train/weights.h"  // predict, export

namespace cvtrain::cli {

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  bool overwrite = false;
  std::string resume;  // a run folder to continue from its newest good checkpoint
  int64_t until_epoch = 0;  // pause after this epoch (0: train to the end)
};
struct ScheduleArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool json = false;
  std::string out;  // a PNG of the lr per step
};
struct LrFindArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;  // folder for lr_find.json and lr_find.png
  double min_lr = 1e-6, max_lr = 10.0;
  int64_t steps = 200;
};
struct EvalArgs {
  std::string run;  // a run folder or a model.safetensors file
  std::string weights;  // of a run folder: model | best | ema (weights.h); with config: a state_dict file
  std::string config;   // RECIPE.yaml for a state_dict from elsewhere (cmd_import.cpp)
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

// ensembles and hyperparameter search
struct EnsembleArgs {
  std::vector<std::string> members;  // run folders or model files
  std::string weights;               // of each run folder: model | best | ema
  std::vector<std::string> overrides;
  std::string tta = "none";
  bool logits = false;     // average logits instead of probabilities
  bool snapshots = false;  // members: each run's snapshots/epoch-*.safetensors
  bool json = false;
};
struct SearchArgs {
  std::string config;
  std::string space;  // SPACE.yaml
  int64_t trials = 0;   // per stage (0: 16); hyperband sets each bracket's
  int64_t jobs = 1;
  std::vector<std::string> overrides;
  std::string out;
  int64_t stages = 1;   // 2: a second stage narrowed around the best trials
  int64_t halving = 0;  // successive halving with this reduction factor eta (0: off)
  bool hyperband = false;  // brackets of successive halving from each rung's budget (eta: halving, or 3)
  uint64_t seed = 0;
};

// the lecture's tuning steps in order (cmd_tune.cpp)
struct TuneArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  int64_t trials = 8;         // of the coarse search; the fine one runs half as many
  int64_t jobs = 1;           // trials at once
  int64_t coarse_epochs = 1;  // epochs of a coarse trial
  int64_t fine_epochs = 0;    // of a fine trial (0: the config's train.epochs)
  uint64_t seed = 0;          // of the sampled trials
};
// the run report
struct ReportArgs {
  std::string run;  // a run folder
  std::string out;  // the HTML file (default RUN/report.html)
  std::vector<std::string> overrides;
  int64_t mistakes = 24;  // most confident test mistakes shown
};

// predict and export
struct PredictArgs {
  std::string run;                  // a run folder, model file or checkpoint (with config: the first input)
  std::string weights;              // of a run folder: model | best | ema; with config: a state_dict file
  std::string config;               // RECIPE.yaml for a state_dict from elsewhere
  std::vector<std::string> inputs;  // PNG/JPEG files, or IDX / CIFAR binary files with ":0-99,120" indices
  std::vector<std::string> overrides;
  int64_t topk = 3;
  bool json = false;
};
struct ExportArgs {
  std::string run;
  std::string weights;  // of a run folder: model | best | ema; with config: a state_dict file
  std::string config;   // RECIPE.yaml for a state_dict from elsewhere
  std::string format = "onnx";  // onnx | safetensors
  std::string out;
  bool fold_bn = false;
  std::vector<std::string> overrides;
};

// a state_dict from elsewhere as a model file (cmd_import.cpp)
struct ImportArgs {
  std::string config;   // RECIPE.yaml: the model, its data and preprocessing
  std::string weights;  // FILE.safetensors: a state_dict under the model's PyTorch names
  std::string out;      // the model file to write
  std::vector<std::string> overrides;
};

int cmd_train(const TrainArgs& a);
int cmd_ensemble(const EnsembleArgs& a);
int cmd_search(const SearchArgs& a, const std::string& self);
int cmd_preview(const PreviewArgs& a);
int cmd_augmentations();
int cmd_eval(const EvalArgs& a);
int cmd_bench(const BenchArgs& a);
int cmd_config(const ConfigArgs& a);
int cmd_models();
int cmd_schedule(const ScheduleArgs& a);
int cmd_lr_find(const LrFindArgs& a);
int cmd_tune(const TuneArgs& a, const std::string& self);
int cmd_diagnose(const DiagnoseArgs& a);
int cmd_predict(const PredictArgs& a);
int cmd_export(const ExportArgs& a);
int cmd_report(const ReportArgs& a);
int cmd_import(const ImportArgs& a);

// Shared setup.
void apply_threads(const RunConfig& cfg);  // OpenMP's thread count, once per process
// A message as one printable line: control characters as \xNN (main.cpp).
std::string printable(const std::string& text);

// A trained model ready for inference (cmd_predict.cpp): weights read (train/weights.h), config
// parsed, the dataset's first test image read for the input shape and class names, eval mode.
struct InferenceModel {
  WeightsFile weights;
  RunConfig cfg;
  Normalization norm;
  Preprocess fitted;
  std::vector<std::string> class_names;
  int64_t C = 0, H = 0, W = 0;  // the images the model takes, before data.preprocess
  std::shared_ptr<nn::Module> model;
};
// `use` (predict, export) decides which --set keys it takes (train/config.h parse_stored_config).
InferenceModel load_inference_model(const std::string& run_or_file, const std::vector<std::string>& overrides,
                                    StoredUse use, Rng& rng);
// The recipe's model with the weights of a state_dict file (train/transfer.h load_state_dict_file),
// the normalization as `cvtrain train` takes it (data.mean/data.std, else fitted on the recipe's
// training split, as data.preprocess is), input shape and class names from that split;
// weights.metadata as a model file's.
InferenceModel load_recipe_model(const std::string& config, const std::string& weights,
                                 const std::vector<std::string>& overrides, Rng& rng);
// What eval, predict and export read: a run folder or model file (--weights model|best|ema), or
// --config RECIPE with --weights FILE. Returns the file to read; InputError for any other combination.
std::string resolve_weights_args(const std::string& run, const std::string& config, const std::string& weights);
InferenceModel open_inference_model(const std::string& run, const std::string& config, const std::string& weights,
                                    const std::vector<std::string>& overrides, StoredUse use, Rng& rng);
// Test-time augmentation (eval_tta.cpp): probabilities averaged over the views of data/tta.h.
EvalResult evaluate_tta(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                        const Preprocess& fitted, int64_t batch_size, const std::string& mode, int64_t pad,
                        const PassProgress& progress = {});
// The crop padding of the config's first `crop` augmentation (the shift seen in training), else 2.
int64_t tta_padding(const RunConfig& cfg);

}  // namespace cvtrain::cli
