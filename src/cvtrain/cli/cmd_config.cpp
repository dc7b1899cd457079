// `cvtrain config` (the resolved config, or the key reference) and `cvtrain models` (the zoo).
#include <cstdio>

#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/nn/flops.h"
#include "cvtrain/nn/zoo.h"

namespace cvtrain::cli {

int cmd_config(const ConfigArgs& a) {
  if (a.reference) {
    std::fputs(config_reference_markdown().c_str(), stdout);
    return 0;
  }
  std::fputs(dump_config(load_config(a.config, a.overrides)).c_str(), stdout);
  return 0;
}

int cmd_models() {
  Rng rng(0);
  // mult-adds: multiply-adds of the conv and fc layers per image (the "FLOPs" of papers); each model at
  // 1x28x28, or at 3x224x224 when it takes no images that small (the ImageNet ResNets)
  std::printf("%-16s %9s %12s %14s  %s\n", "name", "input", "parameters", "mult-adds", "description (10 classes)");
  for (const auto& entry : nn::model_registry()) {
    nn::ModelSpec spec;
    spec.name = entry.name;
    if (entry.min_size > spec.height) spec.in_channels = 3, spec.height = spec.width = 224;
    auto model = nn::build_model(spec, rng);
    const std::string input = std::to_string(spec.in_channels) + "x" + std::to_string(spec.height) + "x" +
                              std::to_string(spec.width);
    std::printf("%-16s %9s %12lld %14lld  %s\n", entry.name.c_str(), input.c_str(),
                static_cast<long long>(nn::parameter_count(*model)),
                static_cast<long long>(nn::multiply_adds(*model, {spec.in_channels, spec.height, spec.width})),
                entry.description.c_str());
  }
  return 0;
}

}  // namespace cvtrain::cli
