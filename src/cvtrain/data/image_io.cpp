// PNG through libpng's simplified API (png_image), JPEG through the libjpeg API with a longjmp error
// handler (libjpeg-turbo's library otherwise exit()s on corrupt data). Both decode to interleaved
// bytes, then transpose to planar (C,H,W).
#include "cvtrain/data/image_io.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include <jpeglib.h>
#include <jerror.h>  // JWRN_JPEG_EOF
#include <png.h>

#include "cvtrain/base/error.h"
#include "cvtrain/base/files.h"

namespace cvtrain {
namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, ": cannot open the image: ", std::strerror(errno));
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Declared sizes never drive allocation past what the file can hold (found by tests/fuzz/fuzz_image:
// a 60-byte PNG header declaring 60000x60000 pixels made a 2 GiB buffer): at most kMaxPixels, and
// at most as many pixels as the format can pack into the file's bytes.
constexpr int64_t kMaxPixels = int64_t{1} << 26;  // 8192x8192
// PNG: deflate expands at most 1032:1 and a 1-bit pixel is 1/8 byte.
constexpr int64_t kPngPixelsPerByte = 1032 * 8;
// JPEG: Huffman coding needs about a bit per 8x8 block (<= 512 pixels per byte); arithmetic coding
// can do better, hence the margin.
constexpr int64_t kJpegPixelsPerByte = 4096;

void check_pixels(const std::string& path, const char* format, int64_t H, int64_t W, size_t bytes,
                  int64_t per_byte) {
  if (H <= 0 || W <= 0) fail_input(path, ": ", format, " header declares an empty ", W, "x", H, " image");
  const int64_t limit = std::min<int64_t>(kMaxPixels, per_byte * static_cast<int64_t>(bytes));
  if (H > kMaxPixels || W > kMaxPixels || H * W > limit)
    fail_input(path, ": ", format, " header declares ", W, "x", H, " pixels, more than ",
               limit == kMaxPixels ? "the 2^26 pixels this reader accepts" : "the file's " + std::to_string(bytes) + " bytes can hold");
}

U8Image planar(const uint8_t* hwc, int64_t C, int64_t H, int64_t W) {
  U8Image img{C, H, W, std::vector<uint8_t>(static_cast<size_t>(C * H * W))};
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < H * W; ++k) img.data[c * H * W + k] = hwc[k * C + c];
  return img;
}

U8Image decode_png(const std::string& path, const std::vector<uint8_t>& bytes) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()))
    fail_input(path, ": not a readable PNG: ", png.message);
  const bool color = (png.format & PNG_FORMAT_FLAG_COLOR) != 0;
  png.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  const int64_t C = color ? 3 : 1, H = png.height, W = png.width;
  try {
    check_pixels(path, "PNG", H, W, bytes.size(), kPngPixelsPerByte);
  } catch (const InputError&) {
    png_image_free(&png);
    throw;
  }
  std::vector<uint8_t> hwc(static_cast<size_t>(C * H * W));
  if (!png_image_finish_read(&png, nullptr, hwc.data(), 0, nullptr)) {
    const std::string msg = png.message;
    png_image_free(&png);
    fail_input(path, ": corrupt PNG: ", msg);
  }
  return planar(hwc.data(), C, H, W);
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

U8Image decode_jpeg(const std::string& path, const std::vector<uint8_t>& bytes) {
  // NOTE: no C++ objects with destructors may live between setjmp and a longjmp back to it;
  // the buffer is allocated before and only filled after.
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.output_message = [](j_common_ptr) {};  // warnings are not printed
  // ... but a file that ends early is an error: libjpeg would fill the rest with gray.
  err.mgr.emit_message = [](j_common_ptr c, int level) {
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) c->err->error_exit(c);
  };
  std::vector<uint8_t> hwc;
  int64_t C = 0, H = 0, W = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    fail_input(path, ": corrupt JPEG: ", err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  // Before jpeg_start_decompress, which allocates (progressive files: the whole coefficient buffer).
  if (static_cast<int64_t>(cinfo.image_width) * cinfo.image_height > kMaxPixels ||
      static_cast<int64_t>(cinfo.image_width) * cinfo.image_height >
          kJpegPixelsPerByte * static_cast<int64_t>(bytes.size())) {
    snprintf(err.message, sizeof err.message, "header declares %ux%u pixels, more than the %zu-byte file can hold",
             static_cast<unsigned>(cinfo.image_width), static_cast<unsigned>(cinfo.image_height), bytes.size());
    std::longjmp(err.jump, 1);
  }
  cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  C = cinfo.output_components, H = cinfo.output_height, W = cinfo.output_width;
  hwc.resize(static_cast<size_t>(C * H * W));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = hwc.data() + static_cast<size_t>(cinfo.output_scanline) * W * C;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return planar(hwc.data(), C, H, W);
}

}  // namespace

U8Image read_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) return decode_png(path, bytes);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return decode_jpeg(path, bytes);
  fail_input(path, ": neither a PNG nor a JPEG file (", bytes.size(), " bytes)");
}

std::string encode_png(const U8Image& img) {
  CHECK((img.C == 1 || img.C == 3) && img.H > 0 && img.W > 0 &&
            img.data.size() == static_cast<size_t>(img.C * img.H * img.W),
        "encode_png: need (C,H,W) u8 with C 1 or 3, got ", img.C, "x", img.H, "x", img.W);
  std::vector<uint8_t> hwc(img.data.size());
  for (int64_t c = 0; c < img.C; ++c)
    for (int64_t k = 0; k < img.H * img.W; ++k) hwc[k * img.C + c] = img.data[c * img.H * img.W + k];
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(img.W);
  png.height = static_cast<png_uint_32>(img.H);
  png.format = img.C == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;  // first call: the size; second: the bytes
  CHECK(png_image_write_to_memory(&png, nullptr, &size, 0, hwc.data(), 0, nullptr), "PNG encoding: ", png.message);
  std::string encoded(size, '\0');
  CHECK(png_image_write_to_memory(&png, encoded.data(), &size, 0, hwc.data(), 0, nullptr), "PNG encoding: ",
        png.message);
  encoded.resize(size);
  return encoded;
}

void write_png(const std::string& path, const U8Image& img) {
  const std::string encoded = encode_png(img);
  write_file_atomic(path, [&](std::FILE* f) { return std::fwrite(encoded.data(), 1, encoded.size(), f) == encoded.size(); });
}

void write_jpeg(const std::string& path, const U8Image& img, int quality) {
  CHECK((img.C == 1 || img.C == 3) && img.H > 0 && img.W > 0, "write_jpeg: need C 1 or 3, got ", img.C);
  std::vector<uint8_t> hwc(img.data.size());
  for (int64_t c = 0; c < img.C; ++c)
    for (int64_t k = 0; k < img.H * img.W; ++k) hwc[k * img.C + c] = img.data[c * img.H * img.W + k];
  write_file_atomic(path, [&](std::FILE* f) {
    jpeg_compress_struct cinfo;
    jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = static_cast<JDIMENSION>(img.W);
    cinfo.image_height = static_cast<JDIMENSION>(img.H);
    cinfo.input_components = static_cast<int>(img.C);
    cinfo.in_color_space = img.C == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
      JSAMPROW row = hwc.data() + static_cast<size_t>(cinfo.next_scanline) * img.W * img.C;
      jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return std::ferror(f) == 0;
  });
}

}  // namespace cvtrain
