// The model zoo: one visible table of the networks the program can build from a config, each a
// function of a ModelSpec and an Rng. Architectures and state_dict names match the PyTorch classes
// in shared/anchors/torch_fmnist.py, so weights saved here load there with strict=True.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/nn/activations.h"
#include "cvtrain/nn/init.h"
#include "cvtrain/nn/module.h"

namespace cvtrain::nn {

// The model.* keys of the architecture, with the program's defaults (their only defaults;
// train/config.cpp documents each key), and the input and class count the data decides.
struct ModelSpec {
  std::string name = "cnn";
  int64_t in_channels = 1, height = 28, width = 28, num_classes = 10;  // from the data, not keys
  double dropout = -1.0;  // -1: the model's own default
  std::string dropout_mode = "inverted";  // model.dropout_mode: inverted | original (every Dropout layer)
  ActivationSpec activation = {};  // model.activation*: "relu" builds the anchor architectures exactly
  init::InitSpec init = {};   // model.init*: "pytorch" keeps PyTorch's default initialization
  int64_t depth = 6;          // deep_mlp: hidden layers (model.depth)
  int64_t hidden_width = 4096;  // deep_mlp: units per hidden layer (model.width; `width` is the image's)
  bool zero_init_residual = false;  // model.zero_init_residual: residual models start each block as identity
  double drop_path = 0.0;  // model.drop_path: stochastic depth, the deepest block's drop rate (residual models)
  std::vector<int64_t> channels = {64, 128, 256};  // vgg: width of each stage (model.channels)
  int64_t stage_convs = 2;              // vgg: conv layers per stage (model.stage_convs)
  std::string drop_path_mode = "sample";  // model.drop_path_mode: sample | batch
  double dropconnect = 0.0;               // model.dropconnect: DropConnect rate of the hidden fc layers
  std::string pool = "max";               // model.pool: max | fractional (cnn, vgg, lenet5)
  double fmp_ratio = 1.4142135623730951;  // model.fmp_ratio
  bool fmp_overlapping = true;            // model.fmp_overlapping
  std::string fmp_sequence = "random";    // model.fmp_sequence: random | pseudo_random
  int64_t fmp_test_samples = 4;           // model.fmp_test_samples: samplings averaged at evaluation
  bool batch_norm = true;                 // model.batch_norm: false leaves out cnn's and vgg's BatchNorm layers
};

struct ModelEntry {
  std::string name;
  std::string description;
  std::function<std::shared_ptr<Module>(const ModelSpec&, Rng&)> build;
  std::vector<std::string> keys = {};  // the model.* keys of its own it reads (model.depth, model.pool, ...)
  // About how many parameter values a spec asks for, for rows whose keys scale the model (null: the
  // architecture bounds it), so a stored config can be checked against the file before building.
  double (*parameters)(const ModelSpec&) = nullptr;
  // The smallest image height and width the architecture takes (refused below; `cvtrain models`
  // describes a row at 3x224x224 when this is above 28).
  int64_t min_size = 1;
};

// Every model, in the order `cvtrain models` lists them.
const std::vector<ModelEntry>& model_registry();

// The values of model.pool and model.drop_path_mode.
const std::vector<std::string>& pool_names();
const std::vector<std::string>& drop_path_mode_names();

// The range of every field (InputError naming its model.* key); build_model checks it too.
void check_options(const ModelSpec& spec);

// Checks the spec, builds the model in training mode and
// applies spec.init to it (after the layers' own PyTorch-default initialization).
std::shared_ptr<Module> build_model(const ModelSpec& spec, Rng& rng);

int64_t parameter_count(Module& model);
// The row's estimate of the spec's parameter values (0 where the architecture bounds them).
double parameter_estimate(const ModelSpec& spec);  // learnable values, as sum(p.numel() for p in parameters())

// DropConnect (ops/dropconnect.h) at rate p on every Linear layer of the model but the last (the
// classifier's hidden fc layers). Returns how many layers got it (0: fewer than two Linear layers).
int64_t set_dropconnect(Module& model, float p);

}  // namespace cvtrain::nn
