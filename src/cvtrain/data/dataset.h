// Datasets held in memory as u8 images and i64 labels: MNIST and Fashion-MNIST from their IDX files,
// and a small synthetic set for tests. Also the per-channel normalization fitted on a training set.
// Not a loader (batching, shuffling and float conversion are in loader.h) and no augmentation.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/data/augment_spec.h"
#include "cvtrain/tensor/tensor.h"

namespace cvtrain {

// train: what the model learns from; val: what choices are made on (best checkpoint, early stopping,
// search); test: what is reported, never chosen on.
enum class Split { train, val, test };
const char* split_name(Split split);  // "train" | "val" | "test"

struct Dataset {
  Tensor images;  // (N,C,H,W) u8
  Tensor labels;  // (N) i64, each in [0, class_names.size())
  std::vector<std::string> class_names;
  std::string name;  // "fashion_mnist" | "mnist" | "synthetic"

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
};

// The names load_dataset knows, in the order the program lists them.
std::vector<std::string> dataset_names();
// Where the Debian packages put a dataset ("/usr/share/datasets/fashion-mnist"); "" for synthetic.
std::string default_dataset_root(const std::string& name);

// Loads `name` from the folder `root` (ignored for "synthetic"). cifar10 / cifar100: cifar.h;
// image_folder: image_folder.h (bad files stop the load; DataOptions can skip them). The IDX files may be gzip'd
// (train-images-idx3-ubyte.gz) or raw (train-images-idx3-ubyte); .gz is tried first. limit <= 0
// means all examples, limit N the first N. Bad input throws InputError naming the file or folder.
Dataset load_dataset(const std::string& name, const std::string& root, Split split, int64_t limit);

// The data.* keys, with the program's defaults (their only defaults; train/config.cpp documents
// each key): which dataset and how much of it, the validation split (val_fraction of the training
// set, stratified and chosen with the run's seed; the test split stays the dataset's own), image-folder
// policy, the fitted preprocessing (preprocess.h) and the training loader's augmentation and mixing
// (loader.h).
struct DataOptions {
  std::string dataset = "fashion_mnist";
  std::string root = default_dataset_root("fashion_mnist");
  int64_t limit_train = 0;  // first N of the training set (before the validation split); 0: all
  int64_t limit_test = 0;
  std::vector<AugmentSpec> augment;
  double val_fraction = 0.0;  // 0: no validation split, unless a choice needs one (auto_val_fraction)
  std::string on_bad_file = "fail";  // image_folder: fail | skip
  std::string preprocess = "channel";
  int64_t preprocess_components = 0;
  double whiten_epsilon = 1e-5;
  int64_t workers = 0;
  bool drop_last = false;
  double mixup_alpha = 0.0;
  double cutmix_alpha = 0.0;
  std::vector<int64_t> classes;  // keeps those classes relabelled 0..k-1 in this order (subset.h); empty: all
  int64_t per_class = 0;         // at most N training images per class (0: all)
  // What each image becomes when loaded (resize.h): {} or {0} as stored, {S} shorter side to S then
  // an SxS center crop, {H, W} exactly HxW; channels 0 (as stored), 1 or 3.
  std::vector<int64_t> image_size;
  int64_t channels = 0;
  double crop_fraction = 1.0;  // with image_size {S}: the shorter side to floor(S / crop_fraction) first
  // A fixed per-channel normalization in [0,1] pixel units (torchvision's Normalize), used instead of
  // the one fitted on the training set; empty: fitted.
  std::vector<double> mean, std;
};

// The validation fraction held out when a run makes a choice (a best checkpoint, early stopping, a
// search) and data.val_fraction is 0: a tenth, as the common 90/10 split.
inline constexpr double auto_val_fraction = 0.1;

// The range of every field (InputError naming its data.* key); load_dataset checks it too.
void check_options(const DataOptions& o);

// Whether `o` gives a validation split: data.val_fraction > 0, or an image folder with train/, val/
// and test/ subfolders (its val/ is then the validation split).
bool has_validation_split(const DataOptions& o);

// One split as `o` says; `split_seed` chooses the validation split. Split::val without one (see
// has_validation_split) is an InputError suggesting data.val_fraction.
Dataset load_dataset(const DataOptions& o, Split split, uint64_t split_seed);

// Splits `data` into (train, held-out), stratified: of each class's n_c examples, round(fraction *
// n_c) are held out, chosen by one Fisher-Yates shuffle from `seed`; both parts keep the original
// order of their examples.
std::pair<Dataset, Dataset> split_dataset(const Dataset& data, double fraction, uint64_t seed);

// A deterministic set of n images (C,H,W) of four classes of patterns (horizontal stripes,
// vertical stripes, a filled square, a cross), shifted and noised from `seed`, labels i % 4.
// load_dataset("synthetic") gives 1024 train / 256 test images of (1,28,28).
Dataset make_synthetic(int64_t n, int64_t channels, int64_t height, int64_t width, uint64_t seed);

// Per-channel mean and standard deviation in [0,1] pixel units (v / 255).
struct Normalization {
  std::vector<float> mean, std;
};

// The population mean and standard deviation of every pixel of each channel, as PyTorch recipes
// compute them (x.mean()/255, x.std()/255 with numpy's population std). Exact integer histograms,
// then double, so the result does not depend on the thread count.
Normalization fit_normalization(const Dataset& train);
// The run's normalization: data.mean / data.std when given (one value per channel of `train`'s images,
// else an InputError naming data.mean), else fit_normalization(train).
Normalization normalization_for(const DataOptions& o, const Dataset& train);

}  // namespace cvtrain
