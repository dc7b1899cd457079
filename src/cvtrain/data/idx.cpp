// IDX reading: a byte source (plain file or incremental gzip inflate) feeding one parser that
// checks the header, then the data against the declared sizes. Memory is bounded by the bytes the
// file really holds, whatever the header claims.
#include "cvtrain/data/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace cvtrain {
namespace {

constexpr int kMaxDims = 4;
constexpr size_t kChunk = size_t{1} << 16;
constexpr uint64_t kDeflateMaxRatio = 1032;  // the most deflate expands (RFC 1951)

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

// Reads up to n bytes; short only at end of file. Throws on read errors.
size_t read_file(FILE* f, const std::string& path, void* buf, size_t n) {
  size_t got = std::fread(buf, 1, n, f);
  if (got < n && std::ferror(f)) fail_input(path, ": read failed: ", std::strerror(errno));
  return got;
}

// The decompressed or plain bytes of the file, in order. `read` is short only at the end of the
// data; for gzip, the end is reached only after the stream's end marker and checksum were verified.
class ByteSource {
 public:
  ByteSource(FILE* f, const std::string& path, bool gzip) : f_(f), path_(path), gzip_(gzip) {
    if (!gzip_) return;
    in_.resize(kChunk);
    std::memset(&zs_, 0, sizeof zs_);
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) fail_input(path_, ": gzip: cannot initialise zlib");
    zs_open_ = true;
  }
  ~ByteSource() {
    if (zs_open_) inflateEnd(&zs_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  size_t read(void* buf, size_t n) { return gzip_ ? inflate_some(static_cast<unsigned char*>(buf), n) : read_file(f_, path_, buf, n); }

 private:
  size_t inflate_some(unsigned char* dst, size_t n) {
    size_t done = 0;
    while (done < n && !finished_) {
      if (zs_.avail_in == 0) {
        zs_.next_in = in_.data();
        zs_.avail_in = static_cast<uInt>(read_file(f_, path_, in_.data(), in_.size()));
      }
      if (member_ended_) {
        // A gzip file may hold several members back to back (`cat a.gz b.gz`); anything else after
        // the first member's checksum is garbage.
        if (zs_.avail_in == 0) {
          finished_ = true;
          break;
        }
        if (zs_.avail_in < 2 && !fill_two()) fail_input(path_, ": trailing garbage after the gzip stream");
        if (zs_.next_in[0] != 0x1f || zs_.next_in[1] != 0x8b) fail_input(path_, ": trailing garbage after the gzip stream");
        inflateReset(&zs_);
        member_ended_ = false;
      }
      if (zs_.avail_in == 0) fail_input(path_, ": gzip: truncated stream (the file ends before the gzip end marker)");
      const size_t want = std::min(n - done, size_t{1} << 30);
      zs_.next_out = dst + done;
      zs_.avail_out = static_cast<uInt>(want);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      done += want - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
      } else if (rc == Z_BUF_ERROR) {
        // No progress possible: only legitimate when the input ran out, handled on the next loop.
        if (zs_.avail_in != 0) fail_input(path_, ": gzip: corrupt stream (no progress)");
      } else if (rc != Z_OK) {
        fail_input(path_, ": gzip: corrupt stream: ", zs_.msg ? zs_.msg : zError(rc));
      }
    }
    return done;
  }

  // Pulls one more input byte so that two are available to check a member's magic.
  bool fill_two() {
    unsigned char first = zs_.next_in[0];
    in_[0] = first;
    size_t got = read_file(f_, path_, in_.data() + 1, in_.size() - 1);
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(1 + got);
    return got > 0;
  }

  FILE* f_;
  const std::string& path_;
  bool gzip_;
  z_stream zs_;
  bool zs_open_ = false;
  bool member_ended_ = false;
  bool finished_ = false;
  std::vector<unsigned char> in_;
};

uint32_t big_endian_u32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string dims_str(const Shape& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}

}  // namespace

Tensor read_idx(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) fail_input(path, ": cannot open: ", std::strerror(errno));
  struct stat st;
  if (fstat(fileno(file.get()), &st) != 0) fail_input(path, ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail_input(path, ": not a regular file");

  unsigned char magic2[2] = {0, 0};
  const size_t got2 = read_file(file.get(), path, magic2, 2);
  const bool gzip = got2 == 2 && magic2[0] == 0x1f && magic2[1] == 0x8b;
  if (std::fseek(file.get(), 0, SEEK_SET) != 0) fail_input(path, ": seek failed: ", std::strerror(errno));
  ByteSource src(file.get(), path, gzip);
  const char* what = gzip ? "the decompressed stream" : "the file";

  unsigned char magic[4];
  const size_t got = src.read(magic, 4);
  if (got < 4) fail_input(path, ": truncated: ", what, " holds ", got, " bytes, less than the 4-byte IDX magic");
  if (magic[0] != 0 || magic[1] != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%02x%02x%02x%02x", magic[0], magic[1], magic[2], magic[3]);
    fail_input(path, ": not an IDX file: magic ", hex, " does not start with two zero bytes");
  }
  if (magic[2] != 0x08) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", magic[2]);
    fail_input(path, ": unsupported IDX element type ", hex, " (only unsigned bytes, 0x08, are read)");
  }
  const int nd = magic[3];
  if (nd < 1 || nd > kMaxDims)
    fail_input(path, ": IDX header declares ", nd, " dimensions; 1 to ", kMaxDims, " are supported");

  unsigned char raw_dims[4 * kMaxDims];
  const size_t dims_got = src.read(raw_dims, 4 * static_cast<size_t>(nd));
  if (dims_got < 4 * static_cast<size_t>(nd))
    fail_input(path, ": truncated: the IDX header declares ", nd, " dimensions but ", what, " ends inside them");
  Shape dims(nd);
  // 4 dims of at most 2^32-1 can overflow 64 bits; the product saturates and is then reported as
  // more than the file holds.
  uint64_t declared = 1;
  bool overflow = false;
  for (int i = 0; i < nd; ++i) {
    dims[i] = big_endian_u32(raw_dims + 4 * i);
    overflow = overflow || __builtin_mul_overflow(declared, static_cast<uint64_t>(dims[i]), &declared);
  }
  const std::string declared_str =
      overflow ? std::string("more than 2^64") : std::to_string(declared);
  // NOTE: with a zero dimension the product is 0, but the others still become strides (int64):
  // (0, 2^32-1, 2^32-1, 2^32-1) would overflow them (found by tests/fuzz/fuzz_idx).
  uint64_t nonzero = 1;
  for (int i = 0; i < nd && declared == 0; ++i)
    if (dims[i] != 0 && (__builtin_mul_overflow(nonzero, static_cast<uint64_t>(dims[i]), &nonzero) ||
                         nonzero > static_cast<uint64_t>(INT64_MAX)))
      fail_input(path, ": IDX header declares dimensions ", dims_str(dims), " too large for any file");

  if (!gzip) {
    // The file size bounds the data before anything is allocated.
    const uint64_t left = static_cast<uint64_t>(st.st_size) - 4 - 4 * static_cast<uint64_t>(nd);
    if (overflow || declared > left)
      fail_input(path, ": truncated: header declares ", dims_str(dims), " values (", declared_str,
                 " bytes) but the file holds ", left);
    if (declared < left)
      fail_input(path, ": trailing garbage: ", left - declared, " bytes after the ", dims_str(dims),
                 " values the header declares");
    Tensor out = Tensor::empty(dims, DType::u8);
    const size_t have = declared ? src.read(out.raw_data(), declared) : 0;
    if (have < declared)  // the file shrank while we read it
      fail_input(path, ": truncated: header declares ", declared, " bytes but only ", have, " could be read");
    return out;
  }

  // gzip: deflate expands at most 1032x (RFC 1951: a 258-byte match in about 2 bits), so the file's
  // size bounds what a truthful header can declare; a lying one is refused before anything is
  // allocated or inflated, and the values are inflated straight into the tensor, never past it.
  const uint64_t plausible = static_cast<uint64_t>(st.st_size) * kDeflateMaxRatio;
  if (overflow || declared > plausible)
    fail_input(path, ": header declares ", dims_str(dims), " values (", declared_str, " bytes), more than the ",
               st.st_size, "-byte gzip file can hold (deflate expands at most ", kDeflateMaxRatio, "x)");
  Tensor out = Tensor::empty(dims, DType::u8);
  uint64_t have = 0;
  for (size_t n = 1; have < declared && n > 0; have += n)
    n = src.read(static_cast<uint8_t*>(out.raw_data()) + have, std::min<uint64_t>(declared - have, kChunk));
  if (have < declared)
    fail_input(path, ": truncated: header declares ", dims_str(dims), " values (", declared_str, " bytes) but ",
               what, " holds ", have);
  unsigned char extra[256];
  if (const size_t n = src.read(extra, sizeof extra); n > 0)
    fail_input(path, ": trailing garbage: ", what, " goes on for ", n, sizeof extra == n ? " or more" : "",
               " bytes after the ", dims_str(dims), " values the header declares");
  return out;
}

}  // namespace cvtrain
