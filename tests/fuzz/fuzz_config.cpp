// libFuzzer target: the YAML config loader (cli/config.cpp) on the bytes as a config file's text,
// then the resolved config dumped and parsed again (it must read back).
#include "cvtrain/train/config.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_input_error_only([&] {
    cvtrain::RunConfig cfg = cvtrain::parse_config_text(text, "fuzz.yaml");
    try {
      cvtrain::parse_config_text(cvtrain::dump_config(cfg), "dumped");
    } catch (const cvtrain::InputError& e) {
      std::fprintf(stderr, "fuzz: an accepted config does not read back after dump_config: %s\n", e.what());
      std::abort();
    }
  });
  return 0;
}
