// libFuzzer target: load_cifar on the bytes as a CIFAR binary test file. The first byte picks
// CIFAR-10 (test_batch.bin) or CIFAR-100 (test.bin); the rest is the file.
#include "cvtrain/data/cifar.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool cifar100 = data[0] & 1;
  const std::string root = fuzz::scratch_dir() + (cifar100 ? "/c100" : "/c10");
  static const int made = std::system(("mkdir -p '" + fuzz::scratch_dir() + "/c100' '" + fuzz::scratch_dir() + "/c10'").c_str());
  (void)made;
  fuzz::write_file(cifar100 ? "c100/test.bin" : "c10/test_batch.bin", data + 1, size - 1);
  fuzz::expect_input_error_only([&] { cvtrain::load_cifar(root, cifar100, cvtrain::Split::test, 0); });
  return 0;
}
