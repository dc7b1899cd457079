// MNIST / Fashion-MNIST from IDX files, the synthetic test set, and normalization statistics.
// Everything a user can get wrong (folder, files, counts, labels) is an InputError naming it.
#include "cvtrain/data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "cvtrain/data/cifar.h"
#include "cvtrain/data/idx.h"
#include "cvtrain/data/image_folder.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/data/resize.h"
#include "cvtrain/data/subset.h"
#include "cvtrain/tensor/rng.h"

namespace cvtrain {
namespace {

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

const std::vector<std::string>& mnist_classes() {
  static const std::vector<std::string> names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return names;
}

bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// root/stem.gz if present, else root/stem; InputError when neither exists.
std::string find_idx_file(const std::string& root, const std::string& stem) {
  const std::string base = root + (root.empty() || root.back() == '/' ? "" : "/") + stem;
  if (is_file(base + ".gz")) return base + ".gz";
  if (is_file(base)) return base;
  fail_input(root, ": neither ", stem, ".gz nor ", stem, " is in this folder");
}

void check_root(const std::string& name, const std::string& root) {
  struct stat st;
  std::string hint;
  if (name == "fashion_mnist" && root == default_dataset_root(name))
    hint = " (install the Debian package dataset-fashion-mnist, which puts the files there)";
  if (stat(root.c_str(), &st) != 0)
    fail_input(root, ": dataset folder for ", name, " does not exist: ", std::strerror(errno), hint);
  if (!S_ISDIR(st.st_mode)) fail_input(root, ": dataset folder for ", name, " is not a folder");
}

Dataset load_idx_dataset(const std::string& name, const std::string& root, Split split, int64_t limit,
                         const std::vector<std::string>& class_names) {
  check_root(name, root);
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string images_path = find_idx_file(root, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx_file(root, prefix + "-labels-idx1-ubyte");
  Tensor images = read_idx(images_path);
  Tensor labels_u8 = read_idx(labels_path);
  if (images.dim() != 3)
    fail_input(images_path, ": expected 3 dimensions (N,H,W) of images, found ", shape_str(images.shape()));
  if (labels_u8.dim() != 1)
    fail_input(labels_path, ": expected 1 dimension (N) of labels, found ", shape_str(labels_u8.shape()));
  const int64_t n_all = images.size(0);
  if (labels_u8.size(0) != n_all)
    fail_input(labels_path, ": ", labels_u8.size(0), " labels for the ", n_all, " images of ", images_path);

  const int64_t n = limit > 0 ? std::min(limit, n_all) : n_all;
  const int64_t num_classes = static_cast<int64_t>(class_names.size());
  Dataset ds;
  ds.name = name;
  ds.class_names = class_names;
  ds.labels = Tensor::empty({n}, DType::i64);
  const uint8_t* src = labels_u8.data<uint8_t>();
  int64_t* dst = ds.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (src[i] >= num_classes)
      fail_input(labels_path, ": label ", int{src[i]}, " at index ", i, " is out of range for the ", num_classes,
                 " classes of ", name);
    dst[i] = src[i];
  }
  // (N,H,W) -> (N,1,H,W); a limited set is copied so the full file's memory is released.
  Tensor shaped = images.view({n_all, 1, images.size(1), images.size(2)});
  ds.images = n < n_all ? shaped.slice(0, 0, n).clone() : shaped;
  return ds;
}

}  // namespace

const char* split_name(Split split) {
  switch (split) {
    case Split::train: return "train";
    case Split::val: return "val";
    case Split::test: return "test";
  }
  return "?";
}

std::vector<std::string> dataset_names() {
  return {"fashion_mnist", "mnist", "cifar10", "cifar100", "image_folder", "synthetic"};
}

std::string default_dataset_root(const std::string& name) {
  if (name == "fashion_mnist") return "/usr/share/datasets/fashion-mnist";
  if (name == "mnist") return "/usr/share/datasets/mnist";
  return "";
}

Dataset load_dataset(const std::string& name, const std::string& root, Split split, int64_t limit) {
  if (name == "fashion_mnist") return load_idx_dataset(name, root, split, limit, fashion_mnist_classes());
  if (name == "mnist") return load_idx_dataset(name, root, split, limit, mnist_classes());
  if (name == "cifar10" || name == "cifar100") return load_cifar(root, name == "cifar100", split, limit);
  if (name == "image_folder") return load_image_folder_split(root, split, BadFile::fail, limit);
  if (name == "synthetic") {
    const int64_t n_all = split == Split::train ? 1024 : 256;
    const int64_t n = limit > 0 ? std::min(limit, n_all) : n_all;
    return make_synthetic(n, 1, 28, 28, split == Split::train ? 1 : 2);
  }
  std::string known;
  for (const std::string& d : dataset_names()) known += (known.empty() ? "" : ", ") + d;
  fail_input("dataset: unknown name '", name, "' (known: ", known, ")");
}

namespace {

Dataset take(const Dataset& data, const std::vector<int64_t>& idx) {
  Dataset out;
  out.name = data.name;
  out.class_names = data.class_names;
  const int64_t n = static_cast<int64_t>(idx.size()), C = data.images.size(1), H = data.images.size(2),
                W = data.images.size(3), CHW = C * H * W;
  out.images = Tensor::empty({n, C, H, W}, DType::u8);
  out.labels = Tensor::empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out.images.data<uint8_t>() + i * CHW, data.images.data<uint8_t>() + idx[i] * CHW, static_cast<size_t>(CHW));
    out.labels.data<int64_t>()[i] = data.labels.data<int64_t>()[idx[i]];
  }
  return out;
}

}  // namespace

std::pair<Dataset, Dataset> split_dataset(const Dataset& data, double fraction, uint64_t seed) {
  if (!(fraction > 0 && fraction < 1)) fail_input("data.val_fraction: must be in (0, 1), got ", fraction);
  const int64_t N = data.size(), K = data.num_classes();
  const int64_t* label = data.labels.data<int64_t>();
  std::vector<int64_t> quota(static_cast<size_t>(K), 0);  // per class: how many to hold out
  for (int64_t i = 0; i < N; ++i) quota[static_cast<size_t>(label[i])] += 1;
  int64_t n_val = 0;
  for (int64_t& q : quota) q = std::llround(fraction * static_cast<double>(q)), n_val += q;
  if (n_val < 1 || n_val >= N)
    fail_input("data.val_fraction: ", fraction, " of ", N, " images leaves an empty train or validation set");
  std::vector<int64_t> perm(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) perm[i] = i;
  Rng rng(seed);
  for (int64_t i = N - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<uint64_t>(i) + 1)]);
  std::vector<int64_t> val, train;
  for (int64_t i : perm) {
    int64_t& q = quota[static_cast<size_t>(label[i])];
    (q > 0 ? val : train).push_back(i);
    if (q > 0) --q;
  }
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {take(data, train), take(data, val)};
}

namespace {

void check_image_options(const DataOptions& o) {
  auto need = [](bool ok, const char* key, const std::string& what) {
    if (!ok) fail_input(key, ": ", what);
  };
  const auto& size = o.image_size;
  need(size.size() <= 2, "data.image_size", "one number S (shorter side S, then an SxS center crop) or [H, W]");
  const bool as_stored = size.empty() || (size.size() == 1 && size[0] == 0);
  for (int64_t d : size)
    need(as_stored || (d >= 1 && d <= 8192), "data.image_size", "each size must be in [1, 8192] (0 alone: as stored)");
  need(o.channels == 0 || o.channels == 1 || o.channels == 3, "data.channels", "must be 0 (as stored), 1 or 3");
  need(o.crop_fraction > 0 && o.crop_fraction <= 1, "data.crop_fraction", "must be in (0, 1]");
  need(o.mean.empty() == o.std.empty(), o.mean.empty() ? "data.mean" : "data.std",
       "data.mean and data.std go together: give both, one value per channel");
  need(o.mean.size() == o.std.size(), "data.std",
       std::to_string(o.std.size()) + " values but data.mean has " + std::to_string(o.mean.size()));
  need(o.mean.empty() || o.channels == 0 || static_cast<int64_t>(o.mean.size()) == o.channels, "data.mean",
       std::to_string(o.mean.size()) + " values for data.channels " + std::to_string(o.channels));
  for (double s : o.std) need(s > 0, "data.std", "each value must be > 0");
}

}  // namespace

void check_options(const DataOptions& o) {
  auto need = [](bool ok, const char* key, const char* what) {
    if (!ok) fail_input(key, ": ", what);
  };
  index_of_name(dataset_names(), o.dataset, "data.dataset", "dataset");
  if (o.root.empty() && o.dataset != "synthetic")
    fail_input("data.root: data.dataset ", o.dataset, " reads its files from data.root, which is not set");
  for (const std::string& other : dataset_names())  // mnist and fashion_mnist have the same file names
    if (other != o.dataset && !default_dataset_root(o.dataset).empty() && o.root == default_dataset_root(other))
      fail_input("data.root: ", o.root, " is where Debian puts ", other, ", and data.dataset is ", o.dataset,
                 "; set data.root to the folder of the ", o.dataset, " files");
  need(o.limit_train >= 0, "data.limit_train", "must be >= 0");
  need(o.limit_test >= 0, "data.limit_test", "must be >= 0");
  need(o.val_fraction >= 0 && o.val_fraction < 1, "data.val_fraction", "must be in [0, 1)");
  parse_bad_file(o.on_bad_file);
  index_of_name(preprocess_modes(), o.preprocess, "data.preprocess", "mode");
  need(o.preprocess_components >= 0, "data.preprocess_components", "must be >= 0");
  need(o.whiten_epsilon >= 0, "data.whiten_epsilon", "must be >= 0");
  need(o.workers >= 0 && o.workers <= 64, "data.workers", "must be in [0, 64]");
  need(o.mixup_alpha >= 0, "data.mixup_alpha", "must be >= 0");
  need(o.cutmix_alpha >= 0, "data.cutmix_alpha", "must be >= 0");
  need(o.per_class >= 0, "data.per_class", "must be >= 0");
  check_image_options(o);
}

bool has_validation_split(const DataOptions& o) {
  return o.val_fraction > 0 || (o.dataset == "image_folder" && image_folder_has_val(o.root));
}

namespace {

// load_dataset before the ImageSpec, except for image folders, whose images of different sizes
// become one shape only through it (each is prepared as it is decoded).
Dataset load_stored(const DataOptions& o, Split split, uint64_t split_seed, const ImageSpec& spec) {
  if (!o.classes.empty() || o.per_class > 0) {  // data.classes, data.per_class: after the limits
    DataOptions all = o;
    all.classes.clear(), all.per_class = 0;
    Dataset full = load_stored(all, split, split_seed, spec);
    check_class_list(o.classes, full.num_classes(), "data.classes");
    return select_classes(full, o.classes, split == Split::train ? o.per_class : 0);
  }
  const BadFile policy = parse_bad_file(o.on_bad_file);
  auto load = [&](Split s, int64_t n) {
    if (o.dataset == "image_folder") return load_image_folder_split(o.root, s, policy, n, spec);
    return load_dataset(o.dataset, o.root, s, n);
  };
  if (o.val_fraction > 0 && split != Split::test) {
    if (o.dataset == "image_folder" && image_folder_has_val(o.root))
      fail_input("data.val_fraction: ", o.root, " has its own val/ split; leave data.val_fraction at 0");
    auto parts = split_dataset(load(Split::train, o.limit_train), o.val_fraction, split_seed);
    return split == Split::train ? std::move(parts.first) : std::move(parts.second);
  }
  if (split == Split::val && !has_validation_split(o))
    fail_input("data.val_fraction: the run has no validation split; set data.val_fraction (e.g. 0.1)");
  return load(split, split == Split::train ? o.limit_train : split == Split::test ? o.limit_test : 0);
}

}  // namespace

Dataset load_dataset(const DataOptions& o, Split split, uint64_t split_seed) {
  check_options(o);
  const ImageSpec spec = image_spec(o);
  Dataset data = load_stored(o, split, split_seed, spec);
  if (o.dataset != "image_folder") prepare_dataset(data, spec);
  return data;
}

Dataset make_synthetic(int64_t n, int64_t channels, int64_t height, int64_t width, uint64_t seed) {
  CHECK(n >= 0 && channels >= 1 && height >= 8 && width >= 8, "make_synthetic: n=", n, " C=", channels,
        " H=", height, " W=", width, " (need n >= 0, C >= 1, H and W >= 8)");
  Dataset ds;
  ds.name = "synthetic";
  ds.class_names = {"hstripes", "vstripes", "square", "cross"};
  ds.images = Tensor::empty({n, channels, height, width}, DType::u8);
  ds.labels = Tensor::empty({n}, DType::i64);
  uint8_t* img = ds.images.data<uint8_t>();
  int64_t* lab = ds.labels.data<int64_t>();
  Rng rng(seed);
  const int64_t H = height, W = width, C = channels;
  const int64_t max_shift = std::min(H, W) / 8;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 4;
    lab[i] = label;
    const int64_t dy = static_cast<int64_t>(rng.below(2 * max_shift + 1)) - max_shift;
    const int64_t dx = static_cast<int64_t>(rng.below(2 * max_shift + 1)) - max_shift;
    for (int64_t c = 0; c < C; ++c) {
      uint8_t* plane = img + (i * C + c) * H * W;
      for (int64_t y = 0; y < H; ++y) {
        for (int64_t x = 0; x < W; ++x) {
          const int64_t sy = y - dy, sx = x - dx;  // pattern coordinates
          const int64_t cy = sy - H / 2, cx = sx - W / 2;
          bool on = false;
          switch (label) {
            case 0: on = ((sy / 3) & 1) != 0; break;
            case 1: on = ((sx / 3) & 1) != 0; break;
            case 2: on = std::abs(cy) < H / 4 && std::abs(cx) < W / 4; break;
            case 3: on = (std::abs(cy) <= 1 || std::abs(cx) <= 1) && std::abs(cy) < H / 3 && std::abs(cx) < W / 3; break;
          }
          const int noise = static_cast<int>(rng.below(61)) - 30;
          plane[y * W + x] = static_cast<uint8_t>(std::clamp((on ? 200 : 40) + noise, 0, 255));
        }
      }
    }
  }
  return ds;
}

Normalization normalization_for(const DataOptions& o, const Dataset& train) {
  if (o.mean.empty()) return fit_normalization(train);
  const int64_t C = train.images.size(1);
  if (static_cast<int64_t>(o.mean.size()) != C)
    fail_input("data.mean: ", o.mean.size(), " values for the ", C, "-channel images of ", train.name,
               "; give one per channel (or set data.channels)");
  Normalization n;
  for (size_t c = 0; c < o.mean.size(); ++c)
    n.mean.push_back(static_cast<float>(o.mean[c])), n.std.push_back(static_cast<float>(o.std[c]));
  return n;
}

Normalization fit_normalization(const Dataset& train) {
  const Tensor& images = train.images;
  CHECK(images.defined() && images.dim() == 4 && images.dtype() == DType::u8 && images.is_contiguous(),
        "fit_normalization: images must be contiguous (N,C,H,W) u8, got ",
        images.defined() ? images.describe() : std::string("undefined"));
  const int64_t N = images.size(0), C = images.size(1), HW = images.size(2) * images.size(3);
  if (N * HW == 0) fail_input(train.name, ": cannot fit a normalization on an empty dataset");
  const uint8_t* x = images.data<uint8_t>();

  // Exact per-channel histograms; integer sums are the same for any thread count and order.
  std::vector<uint64_t> hist(static_cast<size_t>(C) * 256, 0);
#pragma omp parallel
  {
    std::vector<uint64_t> local(static_cast<size_t>(C) * 256, 0);
#pragma omp for nowait
    for (int64_t i = 0; i < N; ++i)
      for (int64_t c = 0; c < C; ++c) {
        const uint8_t* p = x + (i * C + c) * HW;
        uint64_t* h = local.data() + c * 256;
        for (int64_t k = 0; k < HW; ++k) ++h[p[k]];
      }
#pragma omp critical
    for (size_t k = 0; k < hist.size(); ++k) hist[k] += local[k];
  }

  Normalization norm;
  for (int64_t c = 0; c < C; ++c) {
    const uint64_t* h = hist.data() + c * 256;
    uint64_t count = 0, sum = 0;
    for (int v = 0; v < 256; ++v) count += h[v], sum += h[v] * static_cast<uint64_t>(v);
    const double mean = static_cast<double>(sum) / static_cast<double>(count);
    double ss = 0;
    for (int v = 0; v < 256; ++v) ss += static_cast<double>(h[v]) * (v - mean) * (v - mean);
    const double sd = std::sqrt(ss / static_cast<double>(count));
    if (!(sd > 0))
      fail_input(train.name, ": channel ", c, " has the same value in every pixel; cannot normalize by its std");
    norm.mean.push_back(static_cast<float>(mean / 255.0));
    norm.std.push_back(static_cast<float>(sd / 255.0));
  }
  return norm;
}

}  // namespace cvtrain
