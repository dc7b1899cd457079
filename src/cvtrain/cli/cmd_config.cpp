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
  // mult-adds: multiply-adds of the conv and fc layers per image (the "FLOPs" of papers)
  std::printf("%-16s %12s %14s  %s\n", "name", "parameters", "mult-adds", "description (at 1x28x28, 10 classes)");
  for (const auto& entry : nn::model_registry()) {
    nn::ModelSpec spec;
    spec.name = entry.name;
    auto model = nn::build_model(spec, rng);
    std::printf("%-16s %12lld %14lld  %s\n", entry.name.c_str(), static_cast<long long>(nn::parameter_count(*model)),
                static_cast<long long>(nn::multiply_adds(*model, {spec.in_channels, spec.height, spec.width})),
                entry.description.c_str());
  }
  return 0;
}

}  // namespace cvtrain::cli
