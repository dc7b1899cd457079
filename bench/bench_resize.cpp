// Time to prepare Fashion-MNIST's 60000 training images (28x28 gray) for a torchvision-style
// network: data.image_size S with data.channels 3, as load_dataset does it (prepare_dataset, OpenMP
// over images), and the bytes the result holds. The Pillow side is bench/compare_resize.py.
// Usage: bench_resize [ROOT] [SIZE...]   (default sizes 64 and 224; 224 on the first 10000 images)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cvtrain/data/resize.h"

using namespace cvtrain;

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  std::vector<int64_t> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {64, 224};
  const Dataset all = load_dataset("fashion_mnist", root, Split::train, 0);
  for (int64_t S : sizes) {
    const int64_t n = S * S * 3 * all.size() > prepared_bytes_limit() / 2 ? 10000 : all.size();
    Dataset ds = all;
    ds.images = all.images.slice(0, 0, n).clone();
    ImageSpec spec;
    spec.size = {S}, spec.channels = 3;
    const auto t0 = std::chrono::steady_clock::now();
    prepare_dataset(ds, spec);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%lld images 1x28x28 -> 3x%lldx%lld: %.2f s (%.0f img/s), %.0f MiB\n", static_cast<long long>(n),
                static_cast<long long>(S), static_cast<long long>(S), s, static_cast<double>(n) / s,
                static_cast<double>(ds.images.numel()) / (1 << 20));
  }
  return 0;
}
