// libFuzzer target: the bytes are an IDX payload that is gzip-compressed before read_idx sees it, so
// mutations reach the header and size checks behind the inflate path (fuzz_idx mutates gzip itself).
#include <zlib.h>

#include <vector>

#include "cvtrain/data/idx.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> gz(compressBound(size) + 32);
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
  zs.next_in = const_cast<uint8_t*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = gz.data();
  zs.avail_out = static_cast<uInt>(gz.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return 0;
  const std::string path = fuzz::write_file("input.idx.gz", gz.data(), n);
  fuzz::expect_input_error_only([&] { cvtrain::read_idx(path); });
  return 0;
}
