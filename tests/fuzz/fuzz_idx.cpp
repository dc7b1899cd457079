// libFuzzer target: read_idx on the bytes as a file (raw IDX, or gzip when they start with 1f 8b).
#include "cvtrain/data/idx.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("input.idx", data, size);
  fuzz::expect_input_error_only([&] { cvtrain::read_idx(path); });
  return 0;
}
