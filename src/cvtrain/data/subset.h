// Class subsets, for transfer learning and few-shot experiments: keep some classes of a dataset,
// relabelled 0..k-1 in the order given (data.classes), and at most N images of each class
// (data.per_class: the first N of each class in the split's order). Not a sampler (the loader
// shuffles) and not a train/validation split (dataset.h's split_dataset).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cvtrain/data/dataset.h"

namespace cvtrain {

// Each class in [0, num_classes), none twice (InputError naming `key`).
void check_class_list(const std::vector<int64_t>& classes, int64_t num_classes, const std::string& key);

// The examples of `classes` (empty: all classes, labels unchanged), class classes[i] relabelled i and
// named as before; per_class > 0 keeps the first per_class examples of each kept class. The kept
// examples stay in their original order.
Dataset select_classes(const Dataset& data, const std::vector<int64_t>& classes, int64_t per_class);

}  // namespace cvtrain
