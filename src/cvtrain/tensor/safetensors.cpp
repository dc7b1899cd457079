// safetensors reading and writing. The JSON header is handled by nlohmann-json (only here); the
// checks follow the reference implementation's (safetensors/src/tensor.rs: validate) and add a few
// of our own (unknown keys, trailing bytes). Little-endian hosts only, like the format itself.
#include "cvtrain/tensor/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "cvtrain/base/files.h"

namespace cvtrain {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors stores little-endian data");

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's ceiling
constexpr const char* kMetadataKey = "__metadata__";

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::bf16: return "BF16";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
    case DType::u8: return "U8";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* out) {
  for (DType t : {DType::f32, DType::bf16, DType::i64, DType::i32, DType::u8})
    if (s == st_dtype_name(t)) return *out = t, true;
  return false;
}

// A tensor's entry in the header, checked against itself (not yet against the others).
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::ordered_json& j,
                  uint64_t buffer_bytes) {
  const auto bad = [&](const auto&... why) { fail_input(path, ": tensor '", name, "': ", why...); };
  if (!j.is_object()) bad("entry is not a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets") bad("unexpected key '", key, "'");
  if (!j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
    bad("entry needs dtype, shape and data_offsets");
  Entry e;
  e.name = name;
  if (!j["dtype"].is_string()) bad("dtype is not a string");
  const std::string dtype = j["dtype"].get<std::string>();
  if (!parse_st_dtype(dtype, &e.dtype)) bad("unsupported dtype '", dtype, "' (readable: F32, BF16, I64, I32, U8)");

  const nlohmann::ordered_json& shape = j["shape"];
  if (!shape.is_array()) bad("shape is not an array");
  uint64_t numel = 1, nonzero = 1;  // nonzero: the strides of an empty tensor must fit int64 too
  bool overflow = false, nonzero_overflow = false;
  for (const nlohmann::ordered_json& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      bad("shape ", shape.dump(), " holds something other than a non-negative integer");
    e.shape.push_back(d.get<int64_t>());
    overflow = overflow || __builtin_mul_overflow(numel, d.get<uint64_t>(), &numel);
    if (d.get<uint64_t>() != 0)
      nonzero_overflow = nonzero_overflow || __builtin_mul_overflow(nonzero, d.get<uint64_t>(), &nonzero) ||
                         nonzero > static_cast<uint64_t>(INT64_MAX);
  }
  if (!overflow && numel == 0 && nonzero_overflow)  // found by tests/fuzz (the IDX twin of this check)
    bad("shape ", shape.dump(), " is too large for any file");
  overflow = overflow || __builtin_mul_overflow(numel, dtype_size(e.dtype), &numel);

  const nlohmann::ordered_json& off = j["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad("data_offsets ", off.dump(), " is not a pair of non-negative integers");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end) bad("data_offsets [", e.begin, ", ", e.end, "] end before they begin");
  if (e.end > buffer_bytes)
    bad("data_offsets [", e.begin, ", ", e.end, "] reach past the ", buffer_bytes, "-byte data buffer");
  if (overflow || numel != e.end - e.begin)
    bad(dtype, shape_str(e.shape), " needs ", overflow ? std::string("more than 2^64") : std::to_string(numel),
        " bytes but data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin);
  return e;
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Header first, in memory: metadata, then the tensors in the caller's order with packed offsets.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::vector<Tensor> packed;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    CHECK(!name.empty() && name != kMetadataKey && seen.insert(name).second, "write_safetensors: ", path,
          ": tensor name '", name, "' is empty, reserved or repeated");
    CHECK(t.defined(), "write_safetensors: ", path, ": tensor '", name, "' is undefined");
    packed.push_back(t.to_cpu().contiguous());  // a GPU tensor is written from a host copy
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", st_dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // so the data buffer starts 8-byte aligned
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));

  write_file_atomic(path, [&](std::FILE* f) {
    bool ok = write_all(f, len, 8) && write_all(f, text.data(), text.size());
    for (size_t i = 0; ok && i < packed.size(); ++i)
      ok = write_all(f, packed[i].raw_data(), static_cast<size_t>(packed[i].numel()) * dtype_size(packed[i].dtype()));
    return ok;
  });
}

SafetensorsFile read_safetensors(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) fail_input(path, ": cannot open: ", std::strerror(errno));
  struct stat st;
  if (fstat(fileno(file.get()), &st) != 0) fail_input(path, ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail_input(path, ": not a regular file");
  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  const auto read_exact = [&](void* dst, size_t n, const char* what) {
    if (std::fread(dst, 1, n, file.get()) != n)
      fail_input(path, ": truncated while reading ", what,
                 std::ferror(file.get()) ? std::string(": ") + std::strerror(errno) : std::string());
  };

  if (file_bytes < 8) fail_input(path, ": truncated: ", file_bytes, " bytes, less than the 8-byte header length");
  unsigned char len[8];
  read_exact(len, 8, "the header length");
  uint64_t header_bytes = 0;
  for (int i = 0; i < 8; ++i) header_bytes |= static_cast<uint64_t>(len[i]) << (8 * i);
  if (header_bytes > kMaxHeaderBytes)
    fail_input(path, ": header length ", header_bytes, " exceeds the ", kMaxHeaderBytes,
               "-byte maximum (not a safetensors file?)");
  if (header_bytes > file_bytes - 8)
    fail_input(path, ": truncated: header length ", header_bytes, " but only ", file_bytes - 8,
               " bytes follow it");
  std::string text(header_bytes, '\0');
  read_exact(text.data(), text.size(), "the header");
  const uint64_t buffer_bytes = file_bytes - 8 - header_bytes;

  // Ordered, so tensors of equal offsets (empty ones) keep the header's order. nlohmann keeps the
  // last of repeated keys; the callback sees each top-level key first.
  using Json = nlohmann::ordered_json;
  std::string duplicate;
  std::set<std::string> keys;
  const auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, on_event);
  } catch (const nlohmann::json::exception& e) {
    fail_input(path, ": header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) fail_input(path, ": header is not a JSON object");
  if (!duplicate.empty()) fail_input(path, ": tensor '", duplicate, "' appears twice in the header");

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) fail_input(path, ": __metadata__ is not a JSON object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail_input(path, ": __metadata__ value of '", k, "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (name.empty()) fail_input(path, ": a tensor has an empty name");  // no parameter is called ''
    entries.push_back(parse_entry(path, name, value, buffer_bytes));
  }

  // The tensors must tile the buffer exactly: sorted by offset, each begins where the last ended.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t cursor = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < cursor)
      fail_input(path, ": tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end, "] overlap tensor '",
                 entries[i - 1].name, "' [", entries[i - 1].begin, ", ", entries[i - 1].end, "]");
    if (e.begin > cursor)
      fail_input(path, ": tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end, "] leave a gap of ",
                 e.begin - cursor, " unused bytes before them");
    cursor = e.end;
  }
  if (cursor != buffer_bytes)
    fail_input(path, ": the tensors cover ", cursor, " bytes of the ", buffer_bytes, "-byte data buffer (",
               buffer_bytes - cursor, " trailing bytes)");

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) read_exact(t.raw_data(), e.end - e.begin, ("tensor '" + e.name + "'").c_str());
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace cvtrain
