// What the config says about augmentation, before it is checked: the `data.augment` list of
// {name, p, params} entries and the batch-level mixing. Plain data, so train/run_config.h can hold
// it without pulling in the transforms; data/augment.h turns it into a validated pipeline.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace cvtrain {

struct AugmentSpec {
  std::string name;                           // a name from augment_registry()
  double p = -1.0;                            // probability of applying it to an image (< 0: the transform's default_p)
  std::map<std::string, std::string> params;  // parameter -> its YAML text ("4", "[0.08, 1.0]", "reflect")
};

}  // namespace cvtrain
