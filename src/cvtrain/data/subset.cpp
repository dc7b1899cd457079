// Class subsets: one pass over the labels picks the examples, one copy gathers them.
#include "cvtrain/data/subset.h"

#include <cstring>
#include <sstream>

#include "cvtrain/base/error.h"

namespace cvtrain {

void check_class_list(const std::vector<int64_t>& classes, int64_t num_classes, const std::string& key) {
  for (size_t i = 0; i < classes.size(); ++i) {
    const int64_t c = classes[i];
    if (c < 0 || c >= num_classes) fail_input(key, ": class ", c, " is not in [0, ", num_classes, ")");
    for (size_t j = 0; j < i; ++j)
      if (classes[j] == c) fail_input(key, ": class ", c, " is listed twice");
  }
}

Dataset select_classes(const Dataset& data, const std::vector<int64_t>& classes, int64_t per_class) {
  const int64_t K = data.num_classes();
  std::vector<int64_t> new_label(static_cast<size_t>(K), -1);
  if (classes.empty())
    for (int64_t k = 0; k < K; ++k) new_label[k] = k;
  for (size_t i = 0; i < classes.size(); ++i) {
    CHECK(classes[i] >= 0 && classes[i] < K, "select_classes: class ", classes[i], " of ", K);
    new_label[classes[i]] = static_cast<int64_t>(i);
  }
  std::vector<int64_t> taken(static_cast<size_t>(K), 0), idx;
  const int64_t* y = data.labels.data<int64_t>();
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t k = new_label[y[i]];
    if (k < 0 || (per_class > 0 && taken[k] >= per_class)) continue;
    ++taken[k];
    idx.push_back(i);
  }
  Dataset out;
  out.name = data.name;
  if (classes.empty()) out.class_names = data.class_names;
  for (int64_t c : classes) out.class_names.push_back(data.class_names[c]);
  const int64_t n = static_cast<int64_t>(idx.size()), C = data.images.size(1), H = data.images.size(2),
                W = data.images.size(3), CHW = C * H * W;
  out.images = Tensor::empty({n, C, H, W}, DType::u8);
  out.labels = Tensor::empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out.images.data<uint8_t>() + i * CHW, data.images.data<uint8_t>() + idx[i] * CHW,
                static_cast<size_t>(CHW));
    out.labels.data<int64_t>()[i] = new_label[y[idx[i]]];
  }
  return out;
}

}  // namespace cvtrain
