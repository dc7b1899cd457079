// The model file: model.safetensors with the weights under PyTorch's state_dict names and layouts,
// and `__metadata__` strings (the resolved config, the fitted preprocessing) that the caller
// composes. Written atomically (temporary file, then rename): a failed write never replaces a good file.
#pragma once
#include <map>
#include <string>

#include "cvtrain/nn/module.h"

namespace cvtrain {

void save_model_file(const std::string& path, nn::Module& model, const std::map<std::string, std::string>& metadata);

// Loads the weights strictly into `model` (every name and shape must match, every value finite: a NaN
// weight makes every output NaN) and returns the metadata.
std::map<std::string, std::string> load_model_file(const std::string& path, nn::Module& model);

// Only the metadata (to learn which model to build before loading the weights).
std::map<std::string, std::string> read_model_metadata(const std::string& path);

}  // namespace cvtrain
