// Loader throughput: images per second the BatchLoader delivers for Fashion-MNIST (60000 images,
// batch 128) without augmentation and with the fashion_cnn_aug recipe's list (flip, crop with
// padding, random erasing), for 0/1/2 worker threads. The torchvision side is
// bench/compare_loader.py. Usage: bench_loader [ROOT] [EPOCHS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cvtrain/data/loader.h"

using namespace cvtrain;

double images_per_s(const Dataset& ds, const Normalization& norm, const AugmentOptions* opt, int epochs) {
  BatchLoader loader = opt ? BatchLoader(ds, norm, 128, true, *opt) : BatchLoader(ds, norm, 128, true);
  Rng rng(0);
  Batch b;
  int64_t n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(rng);
    while (loader.next(b)) n += b.y.size(0);
  }
  return static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 2;
  const Dataset ds = load_dataset("fashion_mnist", root, Split::train, 0);
  const Normalization norm = fit_normalization(ds);
  std::printf("plain (lookup table), caller thread: %.0f img/s\n", images_per_s(ds, norm, nullptr, epochs));
  for (int64_t workers : {0, 1, 2}) {
    AugmentOptions o;
    o.augment = {{"hflip", 0.5, {}},
                 {"crop", 1.0, {{"padding", "2"}}},
                 {"erasing", 0.5, {{"scale", "[0.02, 0.25]"}}}};
    o.workers = workers;
    std::printf("flip+crop+erasing, %lld workers: %.0f img/s\n", static_cast<long long>(workers),
                images_per_s(ds, norm, &o, epochs));
  }
  return 0;
}
