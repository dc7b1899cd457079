// libFuzzer target: read_safetensors on the bytes as a file; what it accepts must write and read back.
#include "cvtrain/tensor/safetensors.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("input.safetensors", data, size);
  fuzz::expect_input_error_only([&] {
    cvtrain::SafetensorsFile f = cvtrain::read_safetensors(path);
    const std::string again = fuzz::scratch_dir() + "/again.safetensors";
    cvtrain::write_safetensors(again, f.tensors, f.metadata);
    cvtrain::SafetensorsFile g = cvtrain::read_safetensors(again);
    if (g.tensors.size() != f.tensors.size() || g.metadata != f.metadata) std::abort();
  });
  return 0;
}
