// CIFAR binary files: read whole, validated record by record, copied into one (N,3,32,32) tensor.
#include "cvtrain/data/cifar.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "cvtrain/base/error.h"

namespace cvtrain {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir + (dir.empty() || dir.back() == '/' ? "" : "/") + name;
}

std::vector<std::string> read_names(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

}  // namespace

Dataset load_cifar(const std::string& root, bool cifar100, Split split, int64_t limit) {
  const std::string name = cifar100 ? "cifar100" : "cifar10";
  struct stat st;
  if (stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail_input(root, ": dataset folder for ", name, " does not exist or is not a folder (data.root)");
  std::string dir = root;
  const std::string sub = join(root, cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin");
  if (exists(sub)) dir = sub;
  std::vector<std::string> files;
  if (cifar100) files = {join(dir, split == Split::train ? "train.bin" : "test.bin")};
  else if (split == Split::test) files = {join(dir, "test_batch.bin")};
  else
    for (int i = 1; i <= 5; ++i) files.push_back(join(dir, "data_batch_" + std::to_string(i) + ".bin"));

  const int64_t label_bytes = cifar100 ? 2 : 1, record = label_bytes + 3072, K = cifar100 ? 100 : 10;
  std::vector<uint8_t> bytes;
  std::vector<int64_t> file_start;  // the index of each file's first record, to name it in errors
  for (const std::string& f : files) {
    file_start.push_back(static_cast<int64_t>(bytes.size()) / record);
    std::ifstream in(f, std::ios::binary);
    if (!in) fail_input(f, ": cannot open the ", name, " file: ", std::strerror(errno));
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (b.empty() || b.size() % record != 0)
      fail_input(f, ": ", b.size(), " bytes is not a whole number of ", record, "-byte ", name, " records");
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
  const int64_t n_all = static_cast<int64_t>(bytes.size()) / record;
  const int64_t n = limit > 0 ? std::min(limit, n_all) : n_all;
  Dataset ds;
  ds.name = name;
  ds.images = Tensor::empty({n, 3, 32, 32}, DType::u8);
  ds.labels = Tensor::empty({n}, DType::i64);
  uint8_t* img = ds.images.data<uint8_t>();
  int64_t* lab = ds.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = bytes.data() + i * record;
    const int64_t label = r[label_bytes - 1];  // CIFAR-100: (coarse, fine)
    if (label >= K) {  // NOTE: name the file that holds record i, not the first one (bad_input_files.sh)
      size_t k = files.size() - 1;
      while (file_start[k] > i) --k;
      fail_input(files[k], ": label ", label, " of record ", i - file_start[k], " is out of range for ", name);
    }
    lab[i] = label;
    std::memcpy(img + i * 3072, r + label_bytes, 3072);
  }
  const std::string names_file = join(dir, cifar100 ? "fine_label_names.txt" : "batches.meta.txt");
  ds.class_names = exists(names_file) ? read_names(names_file) : std::vector<std::string>{};
  if (static_cast<int64_t>(ds.class_names.size()) != K) {
    ds.class_names.clear();
    if (!cifar100) ds.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
    else
      for (int64_t k = 0; k < K; ++k) ds.class_names.push_back("class_" + std::to_string(k));
  }
  return ds;
}

}  // namespace cvtrain
