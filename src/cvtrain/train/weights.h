// Where inference finds a trained model's weights: a run folder (its model.safetensors, else its
// newest good checkpoint), a model file, or a checkpoint file; read strictly (tensor/safetensors.h,
// train/checkpoint.h) so a damaged file is an InputError naming the file and the tensor. Not the
// config parsing or model building (the program does those from the metadata).
#pragma once
#include <map>
#include <string>

#include "cvtrain/nn/module.h"

namespace cvtrain {

struct WeightsFile {
  std::string path;          // the file read
  bool checkpoint = false;   // a training checkpoint (tensors "model.*" kept, optimizer state dropped)
  nn::StateDict state;       // the model's state_dict
  std::map<std::string, std::string> metadata;  // "config", "preprocess", "preprocess_fit", ...
};

WeightsFile read_weights(const std::string& run_or_file);

// Which weights of a run folder `--weights` names: "" or "model" (the run's model.safetensors, or
// `run_or_file` itself when it is a file), "best" (best.safetensors), "ema" (ema.safetensors).
// InputError naming the folder when the file is missing, and the choice when it is unknown.
std::string run_weights_path(const std::string& run_or_file, const std::string& which);
const std::vector<std::string>& run_weights_names();  // model, best, ema

// Loads strictly: every name, shape and dtype must match, and every value must be finite (a NaN
// weight gives NaN logits everywhere). InputError names the file and the tensor.
void load_weights(nn::Module& model, const WeightsFile& w);

}  // namespace cvtrain
