// The config schema: one table of keys, each row with its field (type and default), what it changes,
// its documentation, when a run uses it and its choices. Loading walks the YAML tree, rejects keys
// that are not in the table (suggesting the nearest one) or named twice, converts each value to its
// field's type, checks the values that can be impossible, and refuses set keys the run would not use.
#include "cvtrain/train/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <variant>

#include <yaml-cpp/yaml.h>

#include "cvtrain/base/error.h"
#include "cvtrain/data/augment.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/image_folder.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/activations.h"
#include "cvtrain/nn/init.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/ops/dropout.h"
#include "cvtrain/ops/fractional_pool.h"
#include "cvtrain/optim/optimizer.h"
#include "cvtrain/optim/schedule.h"

namespace cvtrain {
namespace {

using IntList = std::vector<int64_t>;
using NumberList = std::vector<double>;
using WordList = std::vector<std::string>;
using NamedNumbers = std::vector<std::pair<std::string, double>>;     // a YAML mapping, in its order
using NamedWords = std::vector<std::pair<std::string, std::string>>;  // a YAML mapping, in its order
// A key's field: the function that returns it in a RunConfig, at<&RunConfig::section, &Section::field>.
template <class T>
using Ref = T& (*)(RunConfig&);
using Field = std::variant<Ref<int64_t>, Ref<double>, Ref<bool>, Ref<std::string>, Ref<IntList>, Ref<WordList>,
                           Ref<NamedNumbers>, Ref<NamedWords>, Ref<NumberList>>;
template <auto... Members>
auto& at(RunConfig& c) {
  return (c.*....*Members);
}
// The field in a config that is only read.
template <class T>
const T& in(const RunConfig& c, Ref<T> field) {
  return field(const_cast<RunConfig&>(c));
}
using R = RunConfig;
using D = DataOptions;
using M = nn::ModelSpec;
using Act = nn::ActivationSpec;
using In = nn::init::InitSpec;
using X = TransferOptions;
using O = optim::OptimOptions;
using S = optim::ScheduleOptions;
using Tr = TrainOptions;

// When a key set to a non-default value takes no effect in a run, the run is refused naming it:
// Applies returns "" when the key is consumed by a run with this config, else the reason it is not.
using Applies = std::string (*)(const RunConfig&, const char* key);

// What a key changes when it takes effect, for the reference and tests/cli/knobs.py, which checks it:
// weights, metrics (the evaluations) and files (the run folder) must change when the key is set,
// speed keys must leave the results bit for bit, bits keys to rounding; the others are not probed,
// for the reason named.
enum class Effect { weights, metrics, files, speed, bits, ranks, input, terminal, faults, stopping, checks };

const char* effect_name(Effect e) {
  switch (e) {
    case Effect::weights: return "weights";
    case Effect::metrics: return "metrics";
    case Effect::files: return "files";
    case Effect::speed: return "speed";
    case Effect::bits: return "bits";          // speed; the results agree to rounding, not bit for bit
    case Effect::ranks: return "ranks";        // only under mpirun with several ranks
    case Effect::input: return "input";        // which files are read
    case Effect::terminal: return "terminal";  // what a terminal shows
    case Effect::faults: return "faults";      // only after a non-finite loss
    case Effect::stopping: return "stopping";  // when early stopping ends the run
    case Effect::checks: return "checks";      // which input is refused
  }
  return "?";
}

// The values a string key takes, from the registry that consumes it or a fixed set.
using Choices = std::vector<std::string> (*)();

// The uses of a stored model (StoredUse) that read a key from --set: whatever runs the model reads its
// CPU runtime; an evaluation reads its test split; all read where the files are, which a model file
// that does not record its input shape takes that shape from. The model file fixes every other key.
constexpr unsigned use_bit(StoredUse u) { return static_cast<unsigned>(u); }
constexpr unsigned kRuntime = use_bit(StoredUse::evaluate) | use_bit(StoredUse::predict);
constexpr unsigned kTestSplit = use_bit(StoredUse::evaluate);
constexpr unsigned kDataFiles = kRuntime | use_bit(StoredUse::export_model);
// The commands of the uses in `stored`.
std::vector<std::string> stored_commands(unsigned stored) {
  std::vector<std::string> commands;
  if (stored & use_bit(StoredUse::evaluate)) commands.insert(commands.end(), {"eval", "report", "ensemble"});
  if (stored & use_bit(StoredUse::predict)) commands.push_back("predict");
  if (stored & use_bit(StoredUse::export_model)) commands.push_back("export");
  return commands;
}

struct Key {
  const char* path;
  Field field;
  Effect effect;
  const char* doc;
  Applies applies = nullptr;   // null: consumed by every run
  Choices choices = nullptr;   // a string key limited to these values; the reference lists them
  const char* noun = nullptr;  // with choices: "unknown <noun> 'x' (known: ...)"
  unsigned stored = 0;         // the uses of a stored model that read it from --set (use_bit)
};

template <class Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> out;
  for (const auto& row : table) out.push_back(row.name);
  return out;
}
std::vector<std::string> model_names() { return names_of(nn::model_registry()); }
std::vector<std::string> activation_names() { return names_of(nn::activation_registry()); }
std::vector<std::string> init_names() { return names_of(nn::init::init_registry()); }
std::vector<std::string> optimizer_names() { return names_of(optim::optimizer_registry()); }
std::vector<std::string> schedule_names() { return names_of(optim::schedule_registry()); }
std::vector<std::string> preprocess_names() { return preprocess_modes(); }

// "" when `value` of `owner` (optim.name, optim.schedule, ...) is one of `users`, else the reason.
std::string used_by(const std::string& owner, const std::string& value, const std::vector<std::string>& users) {
  if (std::find(users.begin(), users.end(), value) != users.end()) return "";
  return "no effect with " + owner + " " + value + " (only " + join_names(users) +
         (users.size() == 1 ? " uses it)" : " use it)");
}

// The names of a registry's rows that declare they read `key`.
template <class Table>
std::vector<std::string> rows_reading(const Table& table, const char* key) {
  std::vector<std::string> names;
  for (const auto& row : table)
    if (std::find(row.keys.begin(), row.keys.end(), key) != row.keys.end()) names.push_back(row.name);
  return names;
}
// "" when the row that `owner` selects (its value `value`) in a registry reads `key`, else the
// reason, naming the rows that do: the registries declare which keys each of their rows consumes.
template <class Table>
std::string read_by(const Table& table, const std::string& owner, const std::string& value, const char* key) {
  return used_by(owner, value, rows_reading(table, key));
}
std::string by_optimizer(const RunConfig& c, const char* key) {
  return read_by(optim::optimizer_registry(), "optim.name", c.optim.name, key);
}
std::string by_schedule(const RunConfig& c, const char* key) {
  return read_by(optim::schedule_registry(), "optim.schedule", c.schedule.name, key);
}
std::string by_activation(const RunConfig& c, const char* key) {
  return read_by(nn::activation_registry(), "model.activation", c.model.activation.name, key);
}
std::string by_model(const RunConfig& c, const char* key) { return read_by(nn::model_registry(), "model.name", c.model.name, key); }
// "" unless model.init_from with model.init_strict overwrites every tensor an init key shapes; a head
// that model.reset_head leaves fresh counts when `head_counts` (the init schemes shape it).
std::string strict_load_reason(const RunConfig& c, bool head_counts) {
  const TransferOptions& t = c.transfer;
  if (t.init_from.empty() || !t.init_strict || (head_counts && t.reset_head > 0)) return "";
  return std::string("model.init_from with model.init_strict loads every tensor it would shape") +
         (t.reset_head > 0 ? " (model.reset_head leaves only the final linear layer fresh)" : "");
}
std::string by_strict_load(const RunConfig& c, const char*) { return strict_load_reason(c, true); }
std::string by_init(const RunConfig& c, const char* key) {  // a per-layer override may use any scheme
  if (std::string r = by_strict_load(c, key); !r.empty()) return r;
  return c.model.init.overrides.empty() ? read_by(nn::init::init_registry(), "model.init", c.model.init.scheme, key) : "";
}
// The optimizer has a momentum a cycling schedule moves: optim.momentum, or adam's beta1.
bool has_momentum(const RunConfig& c) {
  return by_optimizer(c, "optim.momentum").empty() || by_optimizer(c, "optim.beta1").empty();
}
std::string by_fractional_pool(const RunConfig& c, const char*) { return used_by("model.pool", c.model.pool, {"fractional"}); }
bool cycles_momentum(const RunConfig& c) { return c.schedule.name == "onecycle" && c.schedule.cycle_momentum && has_momentum(c); }
std::string on_cpu_only() {
  return "no effect on training with device cuda (the GPU keeps its own layout and dtypes; eval and predict, on the "
         "CPU, take it with --set)";
}
std::string needs_init_from(const RunConfig& c, const char*) {
  return c.transfer.init_from.empty() ? "no effect without model.init_from" : "";
}
std::string cycled(const char* what) {
  return std::string("onecycle cycles ") + what +
         " between optim.max_momentum and optim.base_momentum; set optim.cycle_momentum: false to use a fixed one";
}

// The one table of config keys. Add a key here and a field in train/run_config.h.
const std::vector<Key>& keys() {
  static const std::vector<Key> table = {
      {"seed", &at<&R::seed>, Effect::weights, "Seed of every random draw (init, shuffling, dropout). Same seed and threads: same run."},
      {"threads", &at<&R::threads>, Effect::bits, "CPU threads for compute (OpenMP and oneDNN). 0: all cores.",
       nullptr, nullptr, nullptr, kRuntime},
      {"device", &at<&R::device>, Effect::weights, "cpu, or cuda: train and evaluate on the first NVIDIA GPU (a build with -DCVTRAIN_CUDA=ON; optimizer sgd, adam or adamw; no EMA or gradient accumulation yet; docs/cuda.md).",
       nullptr, [] { return std::vector<std::string>{"cpu", "cuda"}; }, "device"},
      {"data.dataset", &at<&R::data, &D::dataset>, Effect::weights, "Dataset: IDX files (fashion_mnist, mnist), CIFAR binary files (cifar10, cifar100), image_folder (root/<class>/*.png|jpg, or root/train + root/test), or synthetic (small, in memory, for tests).",
       nullptr, dataset_names, "dataset"},
      {"data.root", &at<&R::data, &D::root>, Effect::input, "Folder with the dataset files: IDX (raw or .gz), CIFAR .bin, or the image folder. Unset, it follows data.dataset (the Debian package's folder for fashion_mnist and mnist).",
       [](const RunConfig& c, const char*) -> std::string {
         return c.data.dataset == "synthetic" && !c.data.root.empty() ? "no effect with data.dataset synthetic (made in memory)" : "";
       },
       nullptr, nullptr, kDataFiles},
      {"data.limit_train", &at<&R::data, &D::limit_train>, Effect::weights, "Use only the first N training images (0: all)."},
      {"data.limit_test", &at<&R::data, &D::limit_test>, Effect::metrics, "Use only the first N test images (0: all).",
       nullptr, nullptr, nullptr, kTestSplit},
      {"data.val_fraction", &at<&R::data, &D::val_fraction>, Effect::weights, "Hold out this fraction of the training set (stratified by class, chosen with the seed) as the validation split that choices read: best.safetensors, early stopping, search. 0: none, or a tenth when the run makes a choice. The test split stays the dataset's own, reported and never chosen on."},
      {"data.on_bad_file", &at<&R::data, &D::on_bad_file>, Effect::input, "image_folder: an unreadable or corrupt image stops the run naming it (fail) or is skipped with a counted warning (skip).",
       [](const RunConfig& c, const char*) { return used_by("data.dataset", c.data.dataset, {"image_folder"}); },
       [] { return bad_file_names(); }, "mode", kDataFiles},
      {"data.preprocess", &at<&R::data, &D::preprocess>, Effect::weights, "Fitted on the training set, saved in the model: channel (per-channel mean/std), mean_image, or the PCA family (docs/data.md).",
       nullptr, preprocess_names, "mode"},
      {"data.preprocess_components", &at<&R::data, &D::preprocess_components>, Effect::weights, "pca, pca_whiten, zca: the leading components kept (0: all C*H*W); zca projects out the others. Whitening more components than a tenth of the training images amplifies noise (a warning says so; docs/data.md).",
       [](const RunConfig& c, const char*) { return used_by("data.preprocess", c.data.preprocess, {"pca", "pca_whiten", "zca"}); }},
      {"data.whiten_epsilon", &at<&R::data, &D::whiten_epsilon>, Effect::weights, "pca_whiten, zca: added to each covariance eigenvalue before 1/sqrt.",
       [](const RunConfig& c, const char*) { return used_by("data.preprocess", c.data.preprocess, {"pca_whiten", "zca"}); }},
      {"data.workers", &at<&R::data, &D::workers>, Effect::speed, "Loader threads that prefetch augmented batches (0: on the training thread). Batches do not depend on it."},
      {"data.drop_last", &at<&R::data, &D::drop_last>, Effect::weights, "Drop the last training batch of an epoch when it is smaller than train.batch_size."},
      {"data.mixup_alpha", &at<&R::data, &D::mixup_alpha>, Effect::weights, "Mixup (Zhang et al. 2018): lambda ~ Beta(a, a) per batch, soft targets (0: off)."},
      {"data.cutmix_alpha", &at<&R::data, &D::cutmix_alpha>, Effect::weights, "CutMix (Yun et al. 2019): lambda ~ Beta(a, a) per batch (0: off; with mixup, one of the two per batch)."},
      {"data.classes", &at<&R::data, &D::classes>, Effect::weights, "Keep only these classes, relabelled 0..k-1 in the order given, e.g. [5, 6, 7, 8, 9] (empty: all). Applied after data.limit_*; docs/transfer.md."},
      {"data.per_class", &at<&R::data, &D::per_class>, Effect::weights, "At most N training images per class, the first N of each (0: all); the test split is not limited."},
      {"data.image_size", &at<&R::data, &D::image_size>, Effect::weights, "Resize every image as it is loaded: S (one number) resizes the shorter side to S and center-crops SxS, [H, W] resizes to exactly HxW; antialiased bilinear giving torchvision 0.14's pixels (Resize + CenterCrop on PIL images). [] or 0: as stored. Recorded in the model file: predict resizes its inputs alike (docs/data.md)."},
      {"data.channels", &at<&R::data, &D::channels>, Effect::weights, "Convert every image as it is loaded to 1 channel (gray: ITU-R 601-2 luma, as PIL convert(\"L\")) or 3 (RGB: gray copied); 0: as stored. predict converts its inputs alike."},
      {"data.crop_fraction", &at<&R::data, &D::crop_fraction>, Effect::weights, "With one data.image_size S: resize the shorter side to floor(S / crop_fraction), then center-crop SxS (timm's crop_pct, e.g. 0.875).",
       [](const RunConfig& c, const char*) -> std::string {
         return c.data.image_size.size() == 1 && c.data.image_size[0] > 0 ? "" : "no effect without one data.image_size S (a shorter side to crop from)";
       }},
      {"data.mean", &at<&R::data, &D::mean>, Effect::weights, "A fixed per-channel mean in [0,1] pixel units, with data.std, used instead of the one fitted on the training set (torchvision's Normalize; ImageNet's [0.485, 0.456, 0.406] for torchvision models). Stored in the model file as the fitted one is; eval, predict and export apply it.",
       [](const RunConfig& c, const char*) { return used_by("data.preprocess", c.data.preprocess, {"channel"}); }},
      {"data.std", &at<&R::data, &D::std>, Effect::weights, "The per-channel standard deviation that goes with data.mean, in [0,1] pixel units, each > 0 (ImageNet's [0.229, 0.224, 0.225]).",
       [](const RunConfig& c, const char*) { return used_by("data.preprocess", c.data.preprocess, {"channel"}); }},
      {"model.name", &at<&R::model, &M::name>, Effect::weights, "Model from the zoo (`cvtrain models` describes each).",
       nullptr, model_names, "model"},
      {"model.dropout", &at<&R::model, &M::dropout>, Effect::weights, "Dropout probability of the model's dropout layers (-1: the model's default)."},
      {"model.dropout_mode", &at<&R::model, &M::dropout_mode>, Effect::weights, "inverted: scale kept units by 1/(1-p) in training; original: no scaling in training, multiply by 1-p at evaluation (same expected output).",
       nullptr, [] { return ops::dropout_mode_names(); }, "mode"},
      {"model.activation", &at<&R::model, &M::activation, &Act::name>, Effect::weights, "Nonlinearity of the model (nn/activations.cpp describes each; docs/experiments.md compares them).",
       nullptr, activation_names, "activation"},
      {"model.activation_slope", &at<&R::model, &M::activation, &Act::slope>, Effect::weights, "leaky_relu slope / prelu initial slope (-1: 0.01 for leaky_relu, 0.25 for prelu).",
       by_activation},
      {"model.activation_alpha", &at<&R::model, &M::activation, &Act::alpha>, Effect::weights, "The value approached for large negative inputs.",
       by_activation},
      {"model.init", &at<&R::model, &M::init, &In::scheme>, Effect::weights, "Weight init scheme (nn/init.cpp describes each; pytorch: the layers' defaults). Biases start at 0 except with pytorch.",
       by_strict_load, init_names, "init scheme"},
      {"model.init_scale", &at<&R::model, &M::init, &In::scale>, Effect::weights, "normal: the std (the lecture's 0.01); uniform: the half-width; constant: the value.",
       by_init},
      {"model.init_mode", &at<&R::model, &M::init, &In::mode>, Effect::weights, "fan_in (keeps the forward signal) or fan_out (keeps the backward gradient).",
       by_init, [] { return nn::init::fan_mode_names(); }, "mode"},
      {"model.init_gain", &at<&R::model, &M::init, &In::gain>, Effect::weights, "Gain of xavier, kaiming and orthogonal (0: from model.activation for kaiming, 1 otherwise).",
       by_init},
      {"model.init_overrides", &at<&R::model, &M::init, &In::overrides>, Effect::weights, "Per-layer init, layer prefix -> SCHEME or SCHEME:SCALE, e.g. {net.13: xavier_normal, net.1: \"normal:0.02\"} (the longest matching layer prefix wins).",
       by_strict_load},
      {"model.depth", &at<&R::model, &M::depth>, Effect::weights, "deep_mlp: number of hidden layers; resnet_stack: number of residual blocks.",
       by_model},
      {"model.width", &at<&R::model, &M::hidden_width>, Effect::weights, "Units per hidden layer.",
       by_model},
      {"model.channels", &at<&R::model, &M::channels>, Effect::weights, "The width of each stage, e.g. [64, 128, 256]; each stage ends in a 2x2 max pooling.",
       by_model},
      {"model.stage_convs", &at<&R::model, &M::stage_convs>, Effect::weights, "conv3x3-BN-activation layers per stage.",
       by_model},
      {"model.zero_init_residual", &at<&R::model, &M::zero_init_residual>, Effect::weights, "Post-activation residual models (resnet18/34/50, resnet18_small, resnet20/32/56/110, resnet_stack): zero the last BatchNorm scale of each residual branch (bn3 of a bottleneck), so each block starts as the identity.",
       [](const RunConfig& c, const char*) { return strict_load_reason(c, false); }},
      {"model.init_from", &at<&R::transfer, &X::init_from>, Effect::weights, "Start from these weights: a cvtrain model file, a run folder, or a PyTorch state_dict saved as safetensors; tensors are matched by name and shape, and a report lists what was loaded, skipped and newly initialized (docs/transfer.md)."},
      {"model.freeze", &at<&R::transfer, &X::freeze>, Effect::weights, "Parameter-name prefixes kept fixed (no update, no weight decay), e.g. [net.0, net.1]; 'backbone': everything but the final linear layer."},
      {"model.freeze_epochs", &at<&R::transfer, &X::freeze_epochs>, Effect::weights, "model.freeze holds for the first N epochs only (the new head trains alone), then every layer trains, at optim.lr_mult's rates: the two stages of fine-tuning in one run. 0: frozen for the whole run.",
       [](const RunConfig& c, const char*) -> std::string {
         if (c.transfer.freeze.empty()) return "no effect without model.freeze";
         if (c.transfer.freeze_epochs >= c.train.epochs)
           return "the layers would never unfreeze: it must be below train.epochs (" + std::to_string(c.train.epochs) + ")";
         return "";
       }},
      {"model.reset_head", &at<&R::transfer, &X::reset_head>, Effect::weights, "New number of classes: the final linear layer is freshly initialized, not taken from model.init_from (must equal the data's classes; 0: off).",
       needs_init_from},
      {"model.freeze_bn", &at<&R::transfer, &X::freeze_bn>, Effect::weights, "Keep BatchNorm layers in evaluation mode while training: running statistics fixed and used (e.g. for a linear probe)."},
      {"model.init_strict", &at<&R::transfer, &X::init_strict>, Effect::checks, "model.init_from must supply every tensor of the model (but a model.reset_head), with its name and shape; false: tensors it lacks start from the model's init, as the report lists.",
       needs_init_from},
      {"model.drop_path", &at<&R::model, &M::drop_path>, Effect::weights, "Stochastic depth (Huang et al. 2016) for the residual models (resnet*, preact_resnet20, wrn_*, resnet_stack): in training each sample's (or batch's, model.drop_path_mode) residual branch is dropped with rate drop_path*l/L at block l of L (kept ones scaled by 1/(1-rate)); the full network at evaluation. 0: off."},
      {"model.drop_path_mode", &at<&R::model, &M::drop_path_mode>, Effect::weights, "Stochastic depth draws: sample (one per image, as the paper's per-sample variant) or batch (one per batch; a dropped branch is not computed).",
       [](const RunConfig& c, const char*) -> std::string { return c.model.drop_path > 0 ? "" : "no effect without model.drop_path"; }, [] { return nn::drop_path_mode_names(); }, "mode"},
      {"model.dropconnect", &at<&R::model, &M::dropconnect>, Effect::weights, "DropConnect (Wan et al. 2013) rate p on the hidden fully connected layers (all but the last): in training weights masked with keep 1-p and scaled by 1/(1-p), one mask per step; full weights at evaluation. 0: off."},
      {"model.pool", &at<&R::model, &M::pool>, Effect::weights, "max (2x2 max pooling) or fractional (fractional max pooling, Graham 2014, by model.fmp_ratio).",
       by_model, [] { return nn::pool_names(); }, "pooling"},
      {"model.fmp_ratio", &at<&R::model, &M::fmp_ratio>, Effect::weights, "Fractional max pooling: the size reduction alpha in (1, 2) per pooling layer (output floor(in/alpha)).",
       by_fractional_pool},
      {"model.fmp_overlapping", &at<&R::model, &M::fmp_overlapping>, Effect::weights, "Fractional max pooling: overlapping regions (neighbours share a row/column) or disjoint ones.",
       by_fractional_pool},
      {"model.fmp_sequence", &at<&R::model, &M::fmp_sequence>, Effect::weights, "Fractional max pooling region sequence: random (increments 1 and 2 shuffled) or pseudo_random (ceil(alpha(i+u))).",
       by_fractional_pool, [] { return ops::fmp_sequence_names(); }, "sequence"},
      {"model.fmp_test_samples", &at<&R::model, &M::fmp_test_samples>, Effect::metrics, "Fractional max pooling: evaluation averages the logits over this many fixed samplings of the regions.",
       by_fractional_pool, nullptr, nullptr, kRuntime},
      {"model.batch_norm", &at<&R::model, &M::batch_norm>, Effect::weights, "false leaves out the BatchNorm after each conv (the conv gets a bias instead), for the batch-norm ablation.",
       by_model},
      {"train.epochs", &at<&R::train, &Tr::epochs>, Effect::weights, "Passes over the training set (train.max_steps may end the run sooner)."},
      {"train.batch_size", &at<&R::train, &Tr::batch_size>, Effect::weights, "Training batch size."},
      {"train.eval_batch_size", &at<&R::train, &Tr::eval_batch_size>, Effect::bits, "Batch size for evaluation (results agree to rounding whatever it is; 128 measured fastest for the CNN).",
       nullptr, nullptr, nullptr, kTestSplit},
      {"train.label_smoothing", &at<&R::train, &Tr::label_smoothing>, Effect::weights, "Label smoothing of the cross-entropy loss, in [0, 1); with data.mixup_alpha or data.cutmix_alpha it smooths the mixed targets (PyTorch's label_smoothing with probability targets)."},
      {"train.progress", &at<&R::train, &Tr::progress>, Effect::terminal, "Show a progress bar when the output is a terminal."},
      {"train.eval_every", &at<&R::train, &Tr::eval_every>, Effect::metrics, "Evaluate on the test set every N epochs (and after the last)."},
      {"train.clip_grad_norm", &at<&R::train, &Tr::clip_grad_norm>, Effect::weights, "Scale the gradients so their global L2 norm is at most this (0: off)."},
      {"train.clip_grad_value", &at<&R::train, &Tr::clip_grad_value>, Effect::weights, "Clamp every gradient to [-v, v] (0: off)."},
      {"train.accumulate_steps", &at<&R::train, &Tr::accumulate_steps>, Effect::weights, "Batches whose gradients are averaged into one optimizer step."},
      {"train.ema_decay", &at<&R::train, &Tr::ema_decay>, Effect::metrics, "Keep an exponential moving average of the weights with this decay, evaluated beside the raw weights (0: off)."},
      {"train.early_stop_patience", &at<&R::train, &Tr::early_stop_patience>, Effect::stopping, "Stop after N evaluations without a better validation accuracy (0: off). Without data.val_fraction, `cvtrain train` holds out a tenth of the training set for it: the test set never chooses."},
      {"train.early_stop_min_delta", &at<&R::train, &Tr::early_stop_min_delta>, Effect::stopping, "The improvement in validation accuracy that counts as better.",
       [](const RunConfig& c, const char*) -> std::string {
         return c.train.early_stop_patience > 0 ? "" : "no effect without train.early_stop_patience";
       }},
      {"train.checkpoint_every_steps", &at<&R::train, &Tr::checkpoint_every_steps>, Effect::files, "Also write a checkpoint every N optimizer steps (0: only at the end of each epoch)."},
      {"train.keep_last", &at<&R::train, &Tr::keep_last>, Effect::files, "Checkpoints kept in RUN/checkpoints (older ones are deleted; best.safetensors is kept apart)."},
      {"train.skip_nonfinite", &at<&R::train, &Tr::skip_nonfinite>, Effect::faults, "Skip up to N batches whose loss is NaN or infinite before stopping the run."},
      {"train.log_every_steps", &at<&R::train, &Tr::log_every_steps>, Effect::files, "Write a line to steps.jsonl (and TensorBoard scalars) every N steps (0: off). -1: about 100 per run, every planned steps / 100 (at least 1, at most 50), so a short run still draws per-step curves."},
      {"train.diagnostics_every", &at<&R::train, &Tr::diagnostics_every>, Effect::files, "Append per-layer statistics of a fixed training batch (as cvtrain diagnose) to diagnostics.jsonl every N steps (0: off)."},
      {"train.max_steps", &at<&R::train, &Tr::max_steps>, Effect::weights, "Stop after this many optimizer steps when train.epochs has not ended the run first (0: no limit); the schedule spans the run's steps and the last, partial epoch is evaluated."},
      {"train.sync_bn", &at<&R::train, &Tr::sync_bn>, Effect::ranks, "With several MPI ranks: batch-norm statistics over the global batch instead of each rank's (docs/distributed.md)."},
      {"train.dist_timeout_s", &at<&R::train, &Tr::dist_timeout_s>, Effect::ranks, "With several MPI ranks: seconds a rank waits for the others in one collective before it reports a dead or hung rank and stops the job."},
      {"train.dist_overlap", &at<&R::train, &Tr::dist_overlap>, Effect::ranks, "With several MPI ranks: start each gradient bucket's all-reduce during the backward pass, as soon as its gradients are final (false: all buckets after the backward; the same result bit for bit)."},
      {"train.dist_bucket_mb", &at<&R::train, &Tr::dist_bucket_mb>, Effect::ranks, "With several MPI ranks: size in MiB of the gradient all-reduce buckets (whole parameters, in reverse order)."},
      {"train.dist_local_sgd", &at<&R::train, &Tr::dist_local_sgd>, Effect::ranks, "With several MPI ranks: 0 sums the gradients every step (the global batch's gradient, as one process computes it); N > 0 is local SGD: each rank steps on its own batch's gradient with its own momentum, and every N optimizer steps the ranks average their weights and batch-norm statistics and sum the batch totals; at each epoch's end, checkpoint and the last step they average their SGD momentum too, so evaluation and checkpoints see one model. 1 gives 0's result to rounding; larger N sends 1/N as often and changes the optimization (docs/distributed.md). sgd only; CPU only.",
       [](const RunConfig& c, const char*) {
         if (c.train.dist_local_sgd == 0 || c.optim.name == "sgd") return std::string();
         return "averages SGD's momentum buffers between ranks; optim.name " + c.optim.name +
                " keeps a state that does not average linearly (use sgd, or 0)";
       }},
      {"train.tensorboard", &at<&R::train, &Tr::tensorboard>, Effect::files, "Write TensorBoard event files to RUN/tensorboard."},
      {"train.histograms", &at<&R::train, &Tr::histograms>, Effect::files, "TensorBoard histograms of weights and gradients after each epoch."},
      {"train.plots", &at<&R::train, &Tr::plots>, Effect::files, "Draw loss, accuracy and lr curves as PNG files in the run folder."},
      {"train.precision", &at<&R::train, &Tr::precision>, Effect::weights, "fp32, or bf16: convolutions and matrix products compute in bf16 and accumulate in f32, activations between layers are bf16 (train.bf16_activations); master weights, batch-norm statistics, loss and optimizer stay f32 (docs/perf.md).",
       nullptr, [] { return precision_names(); }, "precision", kRuntime},
      {"train.bf16_activations", &at<&R::train, &Tr::bf16_activations>, Effect::weights, "With train.precision bf16 on the CPU: activations between layers are bf16 too (as PyTorch's autocast), halving the memory batch norm, ReLU, pooling and the residual adds move, with no conversion around convolutions; statistics and arithmetic stay f32. false: f32 activations, bf16 only inside convolutions and matrix products.",
       [](const RunConfig& c, const char*) {
         return c.device == "cuda" ? on_cpu_only() : used_by("train.precision", c.train.precision, {"bf16"});
       },
       nullptr, nullptr, kRuntime},
      {"train.memory_format", &at<&R::train, &Tr::memory_format>, Effect::bits, "channels_last, or nchw: the memory order of activations on the CPU; channels_last keeps convolutions, batch norm, ReLU, pooling and the residual add on NHWC memory without reorders (weights and checkpoints stay NCHW/OIHW either way; docs/perf.md).",
       [](const RunConfig& c, const char*) { return c.device == "cuda" ? on_cpu_only() : std::string(); },
       [] { return memory_format_names(); }, "memory format", kRuntime},
      {"train.keep", &at<&R::train, &Tr::keep>, Effect::weights, "Which weights become RUN/model.safetensors (what eval, predict, export and ensemble take): last (the final ones), best (the best validation accuracy; a validation split is held out for it when data.val_fraction is 0) or ema (the average of train.ema_decay).",
       nullptr, [] { return keep_names(); }, "choice"},
      {"train.snapshots", &at<&R::train, &Tr::snapshots>, Effect::files, "Snapshot ensembles: save RUN/snapshots/epoch-N.safetensors at the end of each schedule cycle (sgdr restarts; the last epoch otherwise); `cvtrain ensemble RUN --snapshots` evaluates them."},
      {"optim.name", &at<&R::optim, &O::name>, Effect::weights, "Optimizer, with torch.optim's updates (lars, lamb: timm's; docs/training.md).",
       nullptr, optimizer_names, "optimizer"},
      {"optim.lr", &at<&R::schedule, &S::lr>, Effect::weights, "Peak learning rate (the schedule's maximum)."},
      {"optim.momentum", &at<&R::optim, &O::momentum>, Effect::weights, "Momentum of sgd, rmsprop and lars (with onecycle, set optim.cycle_momentum: false to use it; the default cycles between optim.base_momentum and optim.max_momentum).",
       [](const RunConfig& c, const char* key) -> std::string {
         if (std::string r = by_optimizer(c, key); !r.empty()) return r;
         return cycles_momentum(c) ? cycled("the momentum") : "";
       }},
      {"optim.dampening", &at<&R::optim, &O::dampening>, Effect::weights, "SGD dampening of the momentum.",
       [](const RunConfig& c, const char* key) -> std::string {
         if (std::string r = by_optimizer(c, key); !r.empty()) return r;
         return c.optim.momentum > 0 || cycles_momentum(c) ? "" : "no effect without momentum (optim.momentum is 0)";
       }},
      {"optim.nesterov", &at<&R::optim, &O::nesterov>, Effect::weights, "Nesterov momentum.",
       by_optimizer},
      {"optim.weight_decay", &at<&R::optim, &O::weight_decay>, Effect::weights, "Weight decay: L2 added to the gradient (sgd, adam, rmsprop, adagrad), decoupled for adamw; lars and lamb add it to the update inside the trust ratio."},
      {"optim.l1", &at<&R::optim, &O::l1>, Effect::weights, "L1 penalty: l1*sign(w) added to the gradient (every optimizer); with weight_decay too, the elastic net. Follows optim.decay_bias_and_norm."},
      {"optim.schedule", &at<&R::schedule, &S::name>, Effect::weights, "Learning-rate schedule, per step (`cvtrain schedule` plots it).",
       nullptr, schedule_names, "schedule"},
      {"optim.pct_start", &at<&R::schedule, &S::pct_start>, Effect::weights, "Fraction of the steps spent raising the lr.",
       by_schedule},
      {"optim.cycle_momentum", &at<&R::schedule, &S::cycle_momentum>, Effect::weights, "onecycle: cycle the momentum (sgd, rmsprop) or adam's beta1 inversely to the lr, from optim.max_momentum down to optim.base_momentum and back, as torch's OneCycleLR (false: optim.momentum or optim.beta1 stays fixed).",
       [](const RunConfig& c, const char* key) -> std::string {
         if (std::string r = by_schedule(c, key); !r.empty()) return r;
         return has_momentum(c) ? "" : "no effect with optim.name " + c.optim.name + " (it has no momentum)";
       }},
      {"optim.base_momentum", &at<&R::schedule, &S::base_momentum>, Effect::weights, "onecycle with cycle_momentum: the lowest momentum (or beta1), reached at the peak lr.",
       [](const RunConfig& c, const char*) -> std::string { return cycles_momentum(c) ? "" : "used only by onecycle with optim.cycle_momentum true and an optimizer with momentum"; }},
      {"optim.max_momentum", &at<&R::schedule, &S::max_momentum>, Effect::weights, "onecycle with cycle_momentum: the highest momentum (or beta1), at the start and the end.",
       [](const RunConfig& c, const char*) -> std::string { return cycles_momentum(c) ? "" : "used only by onecycle with optim.cycle_momentum true and an optimizer with momentum"; }},
      {"optim.min_lr", &at<&R::schedule, &S::min_lr>, Effect::weights, "The final (lowest) learning rate.",
       by_schedule},
      {"optim.beta1", &at<&R::optim, &O::beta1>, Effect::weights, "Decay of the gradient's running mean.",
       [](const RunConfig& c, const char* key) -> std::string {
         if (std::string r = by_optimizer(c, key); !r.empty()) return r;
         return cycles_momentum(c) ? cycled("beta1") : "";
       }},
      {"optim.beta2", &at<&R::optim, &O::beta2>, Effect::weights, "Decay of the squared gradient's running mean.",
       by_optimizer},
      {"optim.eps", &at<&R::optim, &O::eps>, Effect::weights, "Epsilon of the denominator (-1: the optimizer's default, 1e-8, adagrad's 1e-10, lamb's 1e-6; lars: of the trust ratio's).",
       by_optimizer},
      {"optim.alpha", &at<&R::optim, &O::alpha>, Effect::weights, "Smoothing constant of the squared gradient's average.",
       by_optimizer},
      {"optim.centered", &at<&R::optim, &O::centered>, Effect::weights, "Normalize by the gradient's estimated variance.",
       by_optimizer},
      {"optim.lr_decay", &at<&R::optim, &O::lr_decay>, Effect::weights, "lr / (1 + (t-1) lr_decay).",
       by_optimizer},
      {"optim.initial_accumulator", &at<&R::optim, &O::initial_accumulator>, Effect::weights, "Initial value of the sum of squared gradients.",
       by_optimizer},
      {"optim.trust_coefficient", &at<&R::optim, &O::trust_coefficient>, Effect::weights, "eta of LARS's trust ratio eta norm(w) / (norm(g) + weight_decay norm(w)), per layer: a layer's step is lr times it (docs/training.md).",
       by_optimizer},
      {"optim.decay_bias_and_norm", &at<&R::optim, &O::decay_bias_and_norm>, Effect::weights, "false: no weight decay (nor L1) on biases and norm scales/shifts (1-D parameters); with lars and lamb, no trust ratio either (their plain momentum or Adam step).",
       [](const RunConfig& c, const char* key) -> std::string {
         if (by_optimizer(c, key).empty() || c.optim.weight_decay > 0 || c.optim.l1 > 0) return "";
         return "no effect without optim.weight_decay or optim.l1 (or an optimizer with a trust ratio: " +
                join_names(rows_reading(optim::optimizer_registry(), key)) + ")";
       }},
      {"optim.bias_lr_mult", &at<&R::optim, &O::bias_lr_mult>, Effect::weights, "Learning-rate multiplier of the biases and norm parameters."},
      {"optim.gamma", &at<&R::schedule, &S::gamma>, Effect::weights, "The lr factor per decay (exponential: per epoch).",
       by_schedule},
      {"optim.step_size", &at<&R::schedule, &S::step_size>, Effect::weights, "Epochs between decays.",
       by_schedule},
      {"optim.milestones", &at<&R::schedule, &S::milestones>, Effect::weights, "Epochs at which the lr is multiplied by gamma, e.g. [30, 60, 80].",
       by_schedule},
      {"optim.restart_period", &at<&R::schedule, &S::restart_period>, Effect::weights, "Epochs of the first cosine cycle (T_0).",
       by_schedule},
      {"optim.restart_mult", &at<&R::schedule, &S::restart_mult>, Effect::weights, "Factor by which each cycle is longer than the last (T_mult).",
       by_schedule},
      {"optim.power", &at<&R::schedule, &S::power>, Effect::weights, "The power of the decay (1: linear).",
       by_schedule},
      {"optim.plateau_factor", &at<&R::schedule, &S::plateau_factor>, Effect::weights, "plateau: the lr factor when the validation loss stops improving.",
       by_schedule},
      {"optim.plateau_patience", &at<&R::schedule, &S::plateau_patience>, Effect::weights, "plateau: evaluations without improvement tolerated before the lr is reduced (reduced after one more).",
       by_schedule},
      {"optim.plateau_threshold", &at<&R::schedule, &S::plateau_threshold>, Effect::weights, "plateau: the relative decrease of the validation loss that counts as an improvement.",
       by_schedule},
      {"optim.warmup_steps", &at<&R::schedule, &S::warmup_steps>, Effect::weights, "Linear warmup over this many steps, multiplying any schedule (0: none)."},
      {"optim.warmup_epochs", &at<&R::schedule, &S::warmup_epochs>, Effect::weights, "Linear warmup in epochs (used when warmup_steps is 0).",
       [](const RunConfig& c, const char*) -> std::string {
         return c.schedule.warmup_steps > 0 ? "optim.warmup_steps is set and decides the warmup" : "";
       }},
      {"optim.warmup_start_factor", &at<&R::schedule, &S::warmup_start_factor>, Effect::weights, "The lr factor at step 0 of the warmup, rising linearly to 1.",
       [](const RunConfig& c, const char*) -> std::string {
         return c.schedule.warmup_steps > 0 || c.schedule.warmup_epochs > 0 ? "" : "no effect without optim.warmup_steps or optim.warmup_epochs";
       }},
      {"optim.scale_lr", &at<&R::schedule, &S::scale_lr>, Effect::weights, "none, or linear: lr *= batch_size * accumulate_steps / base_batch_size (Goyal et al. 2017).",
       nullptr, [] { return optim::scale_rule_names(); }, "rule"},
      {"optim.base_batch_size", &at<&R::schedule, &S::base_batch_size>, Effect::weights, "The batch size that optim.lr is given for, with scale_lr: linear.",
       [](const RunConfig& c, const char*) { return used_by("optim.scale_lr", c.schedule.scale_lr, {"linear"}); }},
      {"optim.lr_mult", &at<&R::optim, &O::lr_mults>, Effect::weights, "Per-layer learning-rate multipliers by parameter-name prefix, e.g. {net.0: 0.1, net.12: 1.0} (the longest matching prefix wins; 0 keeps a layer fixed); backbone: every layer but the final linear one that no other prefix names, e.g. {backbone: 0.1}."},
  };
  return table;
}

const Key* find_key(const std::string& path) {
  for (const Key& k : keys())
    if (path == k.path) return &k;
  return nullptr;
}

std::string suggestion(const std::string& path) {
  std::vector<std::string> paths;
  for (const Key& k : keys()) paths.push_back(k.path);
  const std::string best = nearest_name(paths, path);  // only near misses
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

// Each Field alternative's name, in the variant's order: in the reference, and in errors.
struct TypeNames {
  const char* brief;
  const char* phrase;
};
const TypeNames& type_names(const Field& f) {
  static const TypeNames names[] = {{"int", "an integer"},
                                    {"float", "a number"},
                                    {"bool", "true or false"},
                                    {"string", "a string"},
                                    {"int list", "a list of integers"},
                                    {"word list", "a list of words"},
                                    {"name: number map", "a mapping of names to numbers"},
                                    {"name: word map", "a mapping of names to words"},
                                    {"float list", "a list of numbers"}};
  static_assert(std::size(names) == std::variant_size_v<Field>);
  return names[f.index()];
}

// A mapping's key as text. YAML allows lists and mappings as keys (`? [a, b] : 1`); as<std::string>
// would throw a YAML::Exception past the InputError handling (found by tests/fuzz/fuzz_config).
std::string key_text(const YAML::Node& key, const std::string& where) {
  if (!key.IsScalar()) fail_input(where, ": a key must be a plain word, got a ", key.IsMap() ? "mapping" : "list");
  return key.Scalar();
}

// The items of a list or mapping value. A plain scalar is read as "a, b" or "k=v, k=v" too: the form
// --set gives without brackets, and the one configs stored by older versions hold.
std::vector<std::string> scalar_items(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t[]{}"), e = item.find_last_not_of(" \t[]{}");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

template <class T>
T scalar_as(const std::string& text, const std::string& where, const char* what) {
  try {
    return YAML::Node(text).as<T>();
  } catch (const YAML::Exception&) {
    fail_input(where, ": expected ", what, ", got '", text, "'");
  }
}

void read_value(int64_t& v, const YAML::Node& n, const std::string& where) {
  v = scalar_as<int64_t>(n.Scalar(), where, "an integer");
}
void read_value(double& v, const YAML::Node& n, const std::string& where) {
  v = scalar_as<double>(n.Scalar(), where, "a number");
  if (!std::isfinite(v)) fail_input(where, ": expected a finite number, got '", n.Scalar(), "'");  // .nan, .inf
}
void read_value(bool& v, const YAML::Node& n, const std::string& where) {
  v = scalar_as<bool>(n.Scalar(), where, "true or false");
}
void read_value(std::string& v, const YAML::Node& n, const std::string&) { v = n.Scalar(); }

// A list: a YAML sequence of scalars, or "a, b" in a scalar.
template <class T>
void read_list(std::vector<T>& v, const YAML::Node& n, const std::string& where, const char* what) {
  v.clear();
  if (n.IsNull()) return;
  if (n.IsMap()) fail_input(where, ": expected ", what, ", got a mapping");
  if (!n.IsSequence()) {
    for (const std::string& item : scalar_items(n.Scalar())) v.push_back(scalar_as<T>(item, where, what));
    return;
  }
  for (const auto& item : n) {
    if (!item.IsScalar()) fail_input(where, ": expected ", what, ", got a nested list or mapping");
    v.push_back(scalar_as<T>(item.Scalar(), where, what));
  }
}
void read_value(IntList& v, const YAML::Node& n, const std::string& w) { read_list(v, n, w, "a list of integers"); }
void read_value(WordList& v, const YAML::Node& n, const std::string& w) { read_list(v, n, w, "a list of words"); }
void read_value(NumberList& v, const YAML::Node& n, const std::string& w) {
  read_list(v, n, w, "a list of numbers");
  for (double x : v)
    if (!std::isfinite(x)) fail_input(w, ": expected finite numbers");
}

// A mapping: a YAML mapping of scalars, or "k=v, k=v" (or "k: v") in a scalar.
template <class T>
void read_map(std::vector<std::pair<std::string, T>>& v, const YAML::Node& n, const std::string& where, const char* what) {
  v.clear();
  if (n.IsNull()) return;
  if (n.IsSequence()) fail_input(where, ": expected ", what, ", got a list");
  if (n.IsMap()) {
    for (const auto& kv : n) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) fail_input(where, ": expected ", what, " of plain values");
      v.emplace_back(kv.first.Scalar(), scalar_as<T>(kv.second.Scalar(), where, what));
    }
    return;
  }
  for (const std::string& item : scalar_items(n.Scalar())) {
    const auto eq = item.find_first_of("=:");
    if (eq == std::string::npos || eq == 0) fail_input(where, ": expected name=value items, got '", item, "'");
    const auto b = item.find_first_not_of(' ', eq + 1);
    std::string name = item.substr(0, eq);
    name.erase(name.find_last_not_of(' ') + 1);
    v.emplace_back(name, scalar_as<T>(b == std::string::npos ? "" : item.substr(b), where, what));
  }
}
void read_value(NamedNumbers& v, const YAML::Node& n, const std::string& w) {
  read_map(v, n, w, "a mapping of names to numbers");
}
void read_value(NamedWords& v, const YAML::Node& n, const std::string& w) {
  read_map(v, n, w, "a mapping of names to words");
}

// Converts a YAML value into the field; `where` names the key (and the file) in errors.
void assign(RunConfig& cfg, const Key& key, const YAML::Node& node, const std::string& where) {
  const bool plain = key.field.index() <= 3;
  if (plain && !node.IsScalar())
    fail_input(where, ": expected ", type_names(key.field).phrase, ", got a ", node.IsMap() ? "mapping" : "list");
  std::visit([&](auto field) { read_value(field(cfg), node, where); }, key.field);
}

// A mapping that names one key twice is an error naming both lines (YAML parsers keep the last).
void reject_duplicate_keys(const YAML::Node& map, const std::string& origin, const std::string& prefix) {
  std::map<std::string, int> first_line;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) continue;  // key_text reports it
    const int line = kv.first.Mark().line + 1;
    auto [it, fresh] = first_line.emplace(kv.first.Scalar(), line);
    if (!fresh)
      fail_input(origin, ":", line, ": duplicate key '", prefix.empty() ? "" : prefix + ".", kv.first.Scalar(),
                 "' (first at line ", it->second, ")");
  }
}

// `data.augment`: the one list-valued key, outside the flat table. Each entry is a mapping with a
// name, an optional p and the transform's parameters (flat, or under `params:`); scalars and lists
// of scalars are kept as text and checked by AugmentPipeline, whose errors name where[i].param.
std::vector<AugmentSpec> parse_augment(const YAML::Node& node, const std::string& where) {
  std::vector<AugmentSpec> specs;
  if (node.IsNull()) return specs;
  if (!node.IsSequence()) fail_input(where, ": expected a list of {name: ..., p: ..., parameters}");
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const YAML::Node entry = node[i];
    if (!entry.IsMap()) fail_input(at, ": expected a mapping such as {name: hflip, p: 0.5}");
    reject_duplicate_keys(entry, at, "");
    AugmentSpec spec;
    auto param = [&](const std::string& key, const YAML::Node& v) {
      if (v.IsScalar()) {
        spec.params[key] = v.Scalar();
      } else if (v.IsSequence()) {
        std::string text;
        for (const auto& item : v) {
          if (!item.IsScalar()) fail_input(at, ".", key, ": expected a number, a word or a list of numbers");
          text += (text.empty() ? "" : ",") + item.Scalar();
        }
        spec.params[key] = "[" + text + "]";
      } else {
        fail_input(at, ".", key, ": expected a number, a word or a list of numbers");
      }
    };
    for (const auto& kv : entry) {
      const std::string key = key_text(kv.first, at);
      if (key == "name") {
        if (!kv.second.IsScalar()) fail_input(at, ".name: expected a string");
        spec.name = kv.second.Scalar();
      } else if (key == "p") {
        try {
          spec.p = kv.second.as<double>();
        } catch (const YAML::Exception&) {
          fail_input(at, ".p: expected a number in [0, 1]");
        }
        if (!(spec.p >= 0 && spec.p <= 1)) fail_input(at, ".p: must be in [0, 1], got ", kv.second.Scalar());
      } else if (key == "params" && kv.second.IsMap()) {
        for (const auto& pv : kv.second) param(key_text(pv.first, at + ".params"), pv.second);
      } else {
        param(key, kv.second);
      }
    }
    if (spec.name.empty()) fail_input(at, ": missing 'name'");
    spec.p = applied_p(spec);  // the resolved config shows the p the run uses
    specs.push_back(std::move(spec));
  }
  AugmentPipeline check(specs, where);  // validates names and parameters now, naming the entry
  return specs;
}

// A config as parsed: its values, and the key paths that the file and the overrides wrote.
struct Parsed {
  RunConfig cfg;
  std::vector<std::string> written;
  bool wrote(const std::string& path) const {
    return std::find(written.begin(), written.end(), path) != written.end();
  }
};

void walk(Parsed& out, const YAML::Node& node, const std::string& prefix, const std::string& origin) {
  reject_duplicate_keys(node, origin, prefix);
  for (const auto& kv : node) {
    const std::string name = key_text(kv.first, prefix.empty() ? origin : origin + ": " + prefix);
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (path == "data.augment") {
      out.cfg.data.augment = parse_augment(kv.second, origin + ": data.augment");
      out.written.push_back(path);
    } else if (const Key* key = find_key(path)) {
      assign(out.cfg, *key, kv.second, origin + ": " + path);
      out.written.push_back(path);
    } else if (kv.second.IsMap()) {
      bool is_section = false;
      for (const Key& k : keys()) is_section = is_section || std::string(k.path).rfind(path + ".", 0) == 0;
      if (!is_section) fail_input(origin, ": unknown key '", path, "'", suggestion(path));
      walk(out, kv.second, path, origin);
    } else {
      fail_input(origin, ": unknown key '", path, "'", suggestion(path));
    }
  }
}

// "optim.schedule cosine, sgdr" for a key that registry rows declare they read ("" for none).
template <class Table>
void add_readers(std::string& out, const Table& table, const char* owner, const char* key) {
  const std::vector<std::string> names = rows_reading(table, key);
  if (!names.empty()) out += (out.empty() ? "" : "; ") + std::string(owner) + " " + join_names(names);
}
std::string readers(const char* key) {
  std::string out;
  add_readers(out, nn::model_registry(), "model.name", key);
  add_readers(out, nn::activation_registry(), "model.activation", key);
  add_readers(out, nn::init::init_registry(), "model.init", key);
  add_readers(out, optim::optimizer_registry(), "optim.name", key);
  add_readers(out, optim::schedule_registry(), "optim.schedule", key);
  return out;
}

// Each section is checked by the module that owns it (its check_options names the key); the table
// checks the choices of string keys, and the checks that span sections are here.
void validate(const RunConfig& c, const std::string& origin) {
  auto need = [&](bool ok, const char* key, const std::string& what) {
    if (!ok) fail_input(origin, ": ", key, ": ", what);
  };
  for (const Key& k : keys()) {  // a string key with choices takes one of them
    if (!k.choices) continue;
    const std::string& v = in(c, std::get<Ref<std::string>>(k.field));
    const std::vector<std::string> names = k.choices();
    need(std::find(names.begin(), names.end(), v) != names.end(), k.path,
         std::string("unknown ") + k.noun + " '" + v + "' (known: " + join_names(names) + ")");
  }
  need(c.threads >= 0, "threads", "must be >= 0, got " + std::to_string(c.threads));
  try {
    check_options(c.data);
    nn::check_options(c.model);
    check_options(c.transfer);
    optim::check_options(c.optim);
    optim::check_options(c.schedule);
    check_options(c.train);
  } catch (const InputError& e) {
    fail_input(origin, ": ", e.what());
  }
  if (c.device == "cuda") {  // the optimizer's GPU path, before a CPU build's "built without CUDA"
    try {
      optim::check_runs_on_cuda(c.optim.name, true);
    } catch (const InputError& e) {
      fail_input(origin, ": ", e.what());
    }
  }
  need(c.optim.name != "sgd" || !c.optim.nesterov || c.optim.momentum > 0 || cycles_momentum(c), "optim.nesterov",
       "needs momentum > 0 (set optim.nesterov: false for plain SGD)");
}

bool is_default(const RunConfig& c, const Key& key) {
  static const RunConfig defaults;
  return std::visit([&](auto field) { return in(c, field) == in(defaults, field); }, key.field);
}
// "" when the run `c` reads the key, else the reason it does not.
std::string unread_reason(const RunConfig& c, const Key& key) { return key.applies ? key.applies(c, key.path) : ""; }

// Every key that is written, or set to a non-default value, is consumed by the run, or the run is
// refused naming it: a value written at its default is a choice too, and one the run would ignore.
void check_consumed(const Parsed& p, const std::string& origin) {
  for (const Key& k : keys()) {
    if (is_default(p.cfg, k) && !p.wrote(k.path)) continue;
    if (std::string why = unread_reason(p.cfg, k); !why.empty()) fail_input(origin, ": ", k.path, ": ", why);
  }
  try {
    check_params_read(p.cfg.data.augment);
  } catch (const InputError& e) {
    fail_input(origin, ": ", e.what());
  }
}

// "key.path=value" as its key path and value text.
std::pair<std::string, std::string> split_override(const std::string& o) {
  const auto eq = o.find('=');
  if (eq == std::string::npos || eq == 0) fail_input("--set ", o, ": expected key.path=value");
  return {o.substr(0, eq), o.substr(eq + 1)};
}
// The key path of each "key.path=value" override.
std::vector<std::string> override_paths(const std::vector<std::string>& overrides) {
  std::vector<std::string> paths;
  for (const std::string& o : overrides) paths.push_back(split_override(o).first);
  return paths;
}

void apply_overrides(Parsed& out, const std::vector<std::string>& overrides) {
  RunConfig& cfg = out.cfg;
  for (const std::string& o : overrides) {
    const auto [path, text] = split_override(o);
    out.written.push_back(path);
    if (path == "data.augment") {
      try {
        cfg.data.augment = parse_augment(YAML::Load(text), "--set data.augment");
      } catch (const YAML::Exception& e) {
        fail_input("--set data.augment: cannot parse the value: ", e.msg);
      }
      continue;
    }
    const Key* key = find_key(path);
    if (!key) fail_input("--set: unknown key '", path, "'", suggestion(path));
    YAML::Node value;
    try {
      value = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail_input("--set ", path, ": cannot parse the value: ", e.msg);
    }
    if (value.IsNull()) value = YAML::Node(std::string());
    assign(cfg, *key, value, "--set " + path);
  }
}

Parsed parse(const std::string& yaml, const std::string& origin, const std::vector<std::string>& overrides) {
  Parsed out;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    fail_input(origin, ":", e.mark.line + 1, ":", e.mark.column + 1, ": invalid YAML: ", e.msg);
  }
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap()) fail_input(origin, ": expected a mapping of config keys at the top level");
    walk(out, root, "", origin);
  }
  apply_overrides(out, overrides);
  // data.root follows data.dataset (default_dataset_root) unless the file or an override names it
  if (!out.wrote("data.root")) out.cfg.data.root = default_dataset_root(out.cfg.data.dataset);
  validate(out.cfg, origin);
  return out;
}

constexpr uintmax_t kMaxConfigBytes = 1 << 20;  // a recipe is a few KiB; more is not a config
}  // namespace

RunConfig parse_config_text(const std::string& yaml, const std::string& origin,
                            const std::vector<std::string>& overrides) {
  return parse(yaml, origin, overrides).cfg;
}

std::string read_config_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) fail_input(path, ": cannot open the config file");
  if (!std::filesystem::is_regular_file(status)) fail_input(path, ": not a regular file; a config is a YAML file");
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxConfigBytes)
    fail_input(path, ": ", size, " bytes; a config is at most ", kMaxConfigBytes, " bytes of YAML");
  std::ifstream in(path);
  if (!in) fail_input(path, ": cannot open the config file");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string origin = path.empty() ? "<defaults>" : path;
  Parsed parsed = parse(path.empty() ? "" : read_config_file(path), origin, overrides);
  check_consumed(parsed, origin);
  return std::move(parsed.cfg);
}

RunConfig parse_stored_config(const std::string& yaml, const std::string& origin,
                              const std::vector<std::string>& overrides, StoredUse use) {
  std::vector<std::string> readable;
  for (const Key& k : keys())
    if (k.stored & use_bit(use)) readable.push_back(k.path);
  const std::vector<std::string> paths = override_paths(overrides);
  for (const std::string& path : paths)
    if (std::find(readable.begin(), readable.end(), path) == readable.end())
      fail_input("--set ", path, ": on a stored model, ", join_names(stored_commands(use_bit(use))), " read",
                 use == StoredUse::evaluate ? "" : "s", " only ", join_names(readable),
                 " from --set; the model file fixes the others");
  RunConfig cfg = parse_config_text(yaml, origin, overrides);
  RunConfig on_cpu = cfg;  // a stored model runs on the CPU, whichever device trained it
  on_cpu.device = "cpu";
  for (const std::string& path : paths)
    if (std::string why = unread_reason(on_cpu, *find_key(path)); !why.empty())
      fail_input(origin, ": --set ", path, ": ", why);
  return cfg;
}

void check_overrides_read(const RunConfig& stored, const RunConfig& cfg, const std::vector<std::string>& overrides) {
  const std::vector<std::string> paths = override_paths(overrides);
  for (const std::string& path : paths) {
    if (path == "data.augment") {
      check_params_read(cfg.data.augment, "--set data.augment");
    } else if (const Key* key = find_key(path)) {
      if (std::string why = unread_reason(cfg, *key); !why.empty()) fail_input("--set ", path, ": ", why);
    }
  }
  // a value of the run's own that the overrides leave unread (--set optim.schedule=cosine over a pct_start)
  for (const Key& k : keys()) {
    if (is_default(stored, k) || !unread_reason(stored, k).empty()) continue;
    if (std::string why = unread_reason(cfg, k); !why.empty())
      fail_input("--set ", join_names(paths), ": the run's ", k.path, " ", config_value(stored, k.path),
                 " would no longer be read: ", why);
  }
}

namespace {
// One scalar; a double as the shortest text that reads back as exactly it (0.1, where yaml-cpp's
// 17 digits would write 0.10000000000000001).
template <class T>
void put(YAML::Emitter& out, const T& v) {
  out << v;
}
void put(YAML::Emitter& out, double v) {
  char text[32];
  const auto r = std::to_chars(text, text + sizeof text, v);
  if (std::isfinite(v) && r.ec == std::errc()) out << std::string(text, r.ptr);
  else out << v;
}

template <class T>
void emit(YAML::Emitter& out, const T& v) {
  put(out, v);
}
template <class T>
void emit(YAML::Emitter& out, const std::vector<T>& v) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const T& x : v) put(out, x);
  out << YAML::EndSeq;
}
template <class T>
void emit(YAML::Emitter& out, const std::vector<std::pair<std::string, T>>& v) {
  out << YAML::Flow << YAML::BeginMap;
  for (const auto& [name, x] : v) out << YAML::Key << name << YAML::Value, put(out, x);
  out << YAML::EndMap;
}

// One data.augment entry as a flow mapping {name, p, parameters...}.
void emit(YAML::Emitter& out, const AugmentSpec& a) {
  out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << a.name << YAML::Key << "p" << YAML::Value;
  put(out, a.p);
  for (const auto& [k, v] : a.params) out << YAML::Key << k << YAML::Value, put(out, v);
  out << YAML::EndMap;
}

std::string dump_augment(const std::vector<AugmentSpec>& list) {
  YAML::Emitter out;
  out << YAML::Flow << YAML::BeginSeq;
  for (const AugmentSpec& a : list) emit(out, a);
  out << YAML::EndSeq;
  return out.c_str();
}
}  // namespace

std::string dump_config(const RunConfig& cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  bool in_section = false;
  for (const Key& k : keys()) {
    std::string path = k.path;
    auto dot = path.find('.');
    std::string sec = dot == std::string::npos ? "" : path.substr(0, dot);
    std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
    if (sec != section) {
      if (section == "data" && !cfg.data.augment.empty()) {  // the list-valued key, after data's scalars
        out << YAML::Key << "augment" << YAML::Value << YAML::BeginSeq;
        for (const AugmentSpec& a : cfg.data.augment) emit(out, a);
        out << YAML::EndSeq;
      }
      if (in_section) out << YAML::EndMap;
      in_section = !sec.empty();
      if (in_section) out << YAML::Key << sec << YAML::Value << YAML::BeginMap;
      section = sec;
    }
    if (is_default(cfg, k) && !unread_reason(cfg, k).empty()) continue;  // a key the run does not read, at its default
    out << YAML::Key << leaf << YAML::Value;
    std::visit([&](auto field) { emit(out, in(cfg, field)); }, k.field);
  }
  if (in_section) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::vector<std::string> changed_keys(const RunConfig& a, const RunConfig& b) {
  std::vector<std::string> out;
  for (const Key& k : keys())
    if (!std::visit([&](auto field) { return in(a, field) == in(b, field); }, k.field)) out.push_back(k.path);
  if (dump_augment(a.data.augment) != dump_augment(b.data.augment)) out.push_back("data.augment");
  return out;
}

std::string config_fingerprint(const RunConfig& cfg) {
  std::string out = "data.augment=" + dump_augment(cfg.data.augment) + "\n";
  for (const Key& k : keys())
    if (k.effect == Effect::weights || k.effect == Effect::metrics) out += std::string(k.path) + "=" + config_value(cfg, k.path) + "\n";
  return out;
}

std::string config_value(const RunConfig& cfg, const std::string& key) {
  const Key* k = find_key(key);
  if (!k) return key == "data.augment" ? dump_augment(cfg.data.augment) : "";
  YAML::Emitter out;
  std::visit([&](auto field) { emit(out, in(cfg, field)); }, k->field);
  return out.c_str();
}

std::string config_reference_markdown() {
  RunConfig defaults;
  std::ostringstream md;
  md << "| key | type | default | changes | meaning |\n|---|---|---|---|---|\n";
  for (const Key& k : keys()) {
    std::string def;
    std::visit(
        [&](auto field) {
          const auto& value = in(defaults, field);
          using V = std::remove_cvref_t<decltype(value)>;
          if constexpr (std::is_same_v<V, bool>) {
            def = value ? "true" : "false";
          } else if constexpr (std::is_arithmetic_v<V> || std::is_same_v<V, std::string>) {
            std::ostringstream v;
            v << value;
            def = v.str();
          } else {
            YAML::Emitter out;
            emit(out, value);
            def = out.c_str();
          }
        },
        k.field);
    const std::string type = type_names(k.field).brief;
    md << "| `" << k.path << "` | " << type << " | `" << def << "` | " << effect_name(k.effect) << " | " << k.doc;
    if (k.choices) md << " One of: " << join_names(k.choices()) << ".";
    if (const std::string r = readers(k.path); !r.empty()) md << " Read by " << r << ".";
    if (k.stored) md << " On a stored model, " << join_names(stored_commands(k.stored)) << " take it with --set.";
    md << " |\n";
    if (std::string(k.path) == "data.limit_test")
      md << "| `data.augment` | list | `[]` | weights | Augmentations applied in order to each training image: entries {name, p, parameters}; see docs/data.md and `cvtrain augmentations`. |\n";
  }
  return md.str();
}

}  // namespace cvtrain
