// libFuzzer target: read_image (PNG through libpng, JPEG through libjpeg-turbo, chosen by signature).
#include "cvtrain/data/image_io.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("input.img", data, size);
  fuzz::expect_input_error_only([&] {
    cvtrain::U8Image img = cvtrain::read_image(path);
    if (img.data.size() != static_cast<size_t>(img.C * img.H * img.W)) std::abort();
  });
  return 0;
}
