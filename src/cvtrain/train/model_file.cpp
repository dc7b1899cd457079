#include "cvtrain/train/model_file.h"

#include "cvtrain/tensor/safetensors.h"
#include "cvtrain/train/weights.h"

namespace cvtrain {

void save_model_file(const std::string& path, nn::Module& model, const std::map<std::string, std::string>& metadata) {
  write_safetensors(path, model.state_dict(), metadata);
}

std::map<std::string, std::string> load_model_file(const std::string& path, nn::Module& model) {
  SafetensorsFile file = read_safetensors(path);
  const WeightsFile w{path, false, std::move(file.tensors), std::move(file.metadata)};
  load_weights(model, w);  // strict, and every value finite
  return w.metadata;
}

std::map<std::string, std::string> read_model_metadata(const std::string& path) {
  return read_safetensors(path).metadata;
}

}  // namespace cvtrain
