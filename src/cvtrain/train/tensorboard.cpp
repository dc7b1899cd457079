// Protobuf by hand: a field is a varint key (number << 3 | wire type) then its value: varint (0),
// 64-bit little-endian (1), length-delimited (2), 32-bit little-endian (5). Written here:
//   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//           SessionLog session_log = 7; }  (6 is the deprecated LogMessage)
//   SessionLog { SessionStatus status = 1; }  (START = 1)
//   Summary { repeated Value value = 1; }
//   Summary.Value { string tag = 1; float simple_value = 2; Image image = 4; HistogramProto histo = 5; }
//   Summary.Image { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
//   HistogramProto { double min = 1, max = 2, num = 3, sum = 4, sum_squares = 5;
//                    repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed]; }
// NOTE: hand encoding keeps the build free of protoc for ~60 lines; the field numbers are the whole
// contract with TensorBoard, and the test decodes them back.
#include "cvtrain/train/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cvtrain/base/error.h"
#include "cvtrain/train/checkpoint.h"

namespace cvtrain {
namespace {

uint32_t masked_crc(const void* p, size_t n) {
  const uint32_t crc = crc32c(p, n);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;  // TFRecord's mask
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
template <typename T>
void put_fixed(std::string& out, T v) {  // little-endian host assumed (x86, ARM)
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
void put_key(std::string& out, int field, int wire) { put_varint(out, static_cast<uint64_t>(field << 3 | wire)); }
void put_double(std::string& out, int field, double v) { put_key(out, field, 1), put_fixed(out, v); }
void put_bytes(std::string& out, int field, const std::string& b) {
  put_key(out, field, 2);
  put_varint(out, b.size());
  out += b;
}

std::string event_bytes(int64_t step, const std::string& summary_value) {
  const double wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string ev;
  put_double(ev, 1, wall);
  put_key(ev, 2, 0);
  put_varint(ev, static_cast<uint64_t>(step));
  std::string summary;
  put_bytes(summary, 1, summary_value);
  put_bytes(ev, 5, summary);
  return ev;
}

// The reader's cursor over one message.
struct Cursor {
  const unsigned char *p, *end;
  const std::string& where;
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) fail_input(where, ": truncated varint");
      const unsigned char b = *p++;
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail_input(where, ": varint too long");
  }
  template <typename T>
  T fixed() {
    if (end - p < static_cast<std::ptrdiff_t>(sizeof(T))) fail_input(where, ": truncated fixed field");
    T v;
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    return v;
  }
  Cursor sub() {
    const uint64_t n = varint();
    if (static_cast<uint64_t>(end - p) < n) fail_input(where, ": truncated length-delimited field");
    Cursor c{p, p + n, where};
    p += n;
    return c;
  }
  void skip(int wire) {
    if (wire == 0) varint();
    else if (wire == 1) fixed<uint64_t>();
    else if (wire == 2) sub();
    else if (wire == 5) fixed<uint32_t>();
    else fail_input(where, ": unknown wire type ", wire);
  }
};

std::vector<double> packed_doubles(Cursor c) {
  std::vector<double> v;
  while (c.p < c.end) v.push_back(c.fixed<double>());
  return v;
}

EventRecord::Histo parse_histo(Cursor c) {
  EventRecord::Histo h;
  while (c.p < c.end) {
    const uint64_t key = c.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field >= 1 && field <= 5 && wire == 1) {
      double v = c.fixed<double>();
      double* dst[] = {&h.min, &h.max, &h.num, &h.sum, &h.sum_squares};
      *dst[field - 1] = v;
    } else if ((field == 6 || field == 7) && wire == 2) {
      (field == 6 ? h.bucket_limit : h.bucket) = packed_doubles(c.sub());
    } else {
      c.skip(wire);
    }
  }
  return h;
}

EventRecord::Image parse_image(Cursor c) {
  EventRecord::Image im;
  while (c.p < c.end) {
    const uint64_t key = c.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field >= 1 && field <= 3 && wire == 0) {
      int64_t* dst[] = {&im.height, &im.width, &im.colorspace};
      *dst[field - 1] = static_cast<int64_t>(c.varint());
    } else if (field == 4 && wire == 2) {
      Cursor b = c.sub();
      im.png.assign(reinterpret_cast<const char*>(b.p), static_cast<size_t>(b.end - b.p));
    } else {
      c.skip(wire);
    }
  }
  return im;
}

void parse_value(Cursor c, EventRecord& r) {
  std::string tag;
  bool has_scalar = false, has_histo = false, has_image = false;
  float scalar = 0;
  EventRecord::Histo histo;
  EventRecord::Image image;
  while (c.p < c.end) {
    const uint64_t key = c.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 2) {
      Cursor s = c.sub();
      tag.assign(reinterpret_cast<const char*>(s.p), static_cast<size_t>(s.end - s.p));
    } else if (field == 2 && wire == 5) {
      scalar = c.fixed<float>(), has_scalar = true;
    } else if (field == 5 && wire == 2) {
      histo = parse_histo(c.sub()), has_histo = true;
    } else if (field == 4 && wire == 2) {
      image = parse_image(c.sub()), has_image = true;
    } else {
      c.skip(wire);
    }
  }
  if (has_scalar) r.scalars.emplace_back(tag, scalar);
  if (has_histo) histo.tag = tag, r.histograms.push_back(histo);
  if (has_image) image.tag = tag, r.images.push_back(std::move(image));
}

EventRecord parse_event(const char* data, uint64_t n, const std::string& where) {
  Cursor c{reinterpret_cast<const unsigned char*>(data), reinterpret_cast<const unsigned char*>(data) + n, where};
  EventRecord r;
  while (c.p < c.end) {
    const uint64_t key = c.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 1) {
      r.wall_time = c.fixed<double>();
    } else if (field == 2 && wire == 0) {
      r.step = static_cast<int64_t>(c.varint());
    } else if (field == 3 && wire == 2) {
      Cursor s = c.sub();
      r.file_version.assign(reinterpret_cast<const char*>(s.p), static_cast<size_t>(s.end - s.p));
    } else if (field == 5 && wire == 2) {
      Cursor s = c.sub();
      while (s.p < s.end) {
        const uint64_t k = s.varint();
        if ((k >> 3) == 1 && (k & 7) == 2) parse_value(s.sub(), r);
        else s.skip(static_cast<int>(k & 7));
      }
    } else if (field == 7 && wire == 2) {
      Cursor s = c.sub();
      while (s.p < s.end) {
        const uint64_t k = s.varint();
        if ((k >> 3) == 1 && (k & 7) == 0) r.session_status = static_cast<int64_t>(s.varint());
        else s.skip(static_cast<int>(k & 7));
      }
    } else {
      c.skip(wire);
    }
  }
  return r;
}

std::string read_all(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail_input(path, ": cannot open: ", std::strerror(errno));
  std::string bytes;
  char buf[65536];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, got);
  std::fclose(f);
  return bytes;
}

// The next record of `bytes` at `pos`: its data's offset and length. False at the end; with
// `tolerant`, also at a torn or damaged record (else InputError naming `path` and record `index`).
bool next_record(const std::string& bytes, size_t pos, const std::string& path, size_t index, bool tolerant,
                 size_t& data_at, uint64_t& n) {
  if (pos >= bytes.size()) return false;
  const std::string where = path + ": record " + std::to_string(index);
  auto bad = [&](const char* what) {
    if (!tolerant) fail_input(where, what);
    return false;
  };
  if (bytes.size() - pos < 12) return bad(": truncated header");
  uint32_t len_crc, data_crc;
  std::memcpy(&n, bytes.data() + pos, 8);
  std::memcpy(&len_crc, bytes.data() + pos + 8, 4);
  if (masked_crc(bytes.data() + pos, 8) != len_crc) return bad(": length CRC mismatch");
  if (bytes.size() - pos - 12 < n + 4) return bad(": truncated data");
  std::memcpy(&data_crc, bytes.data() + pos + 12 + n, 4);
  if (masked_crc(bytes.data() + pos + 12, n) != data_crc) return bad(": data CRC mismatch");
  data_at = pos + 12;
  return true;
}

}  // namespace

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail_input(dir, ": cannot create the TensorBoard folder: ", ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const long long secs = static_cast<long long>(std::time(nullptr));
  path_ = dir + "/events.out.tfevents." + std::to_string(secs) + "." + host + "." + std::to_string(getpid());
  // NOTE: a run resumed within the same second by the same process (tests) must not overwrite
  for (int k = 1; std::filesystem::exists(path_, ec); ++k)
    path_ = dir + "/events.out.tfevents." + std::to_string(secs) + "." + host + "." + std::to_string(getpid()) + "." +
            std::to_string(k);
  f_ = std::fopen(path_.c_str(), "wb");
  if (!f_) fail_input(path_, ": cannot open for writing: ", std::strerror(errno));
  std::string ev;
  put_double(ev, 1, static_cast<double>(secs));
  put_bytes(ev, 3, "brain.Event:2");
  write_event(ev);
}

EventWriter::~EventWriter() {
  if (f_) std::fclose(f_);
}

void EventWriter::write_event(const std::string& data) {
  std::string rec;
  const uint64_t n = data.size();
  put_fixed(rec, n);
  put_fixed(rec, masked_crc(rec.data(), 8));
  rec += data;
  put_fixed(rec, masked_crc(data.data(), data.size()));
  // NOTE: flushed per event so a killed run keeps its curves; a failed write loses only the logs.
  if (std::fwrite(rec.data(), 1, rec.size(), f_) != rec.size() || std::fflush(f_) != 0)
    fail_input(path_, ": write failed: ", std::strerror(errno));
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value) {
  std::string v;
  put_bytes(v, 1, tag);
  put_key(v, 2, 5);
  put_fixed(v, static_cast<float>(value));
  write_event(event_bytes(step, v));
}

void EventWriter::histogram(const std::string& tag, int64_t step, const float* values, int64_t n, int bins) {
  if (n <= 0 || bins <= 0) return;
  double lo = values[0], hi = values[0], sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = values[i];
    lo = std::min(lo, x), hi = std::max(hi, x), sum += x, sum_sq += x * x;
  }
  // bucket i counts values in [limit[i-1], limit[i]) (the last one includes the max); TensorBoard
  // reads each bucket's right edge from bucket_limit
  std::vector<double> limit(static_cast<size_t>(bins)), count(static_cast<size_t>(bins), 0.0);
  const double width = hi > lo ? (hi - lo) / bins : 1.0;
  for (int b = 0; b < bins; ++b) limit[static_cast<size_t>(b)] = lo + width * (b + 1);
  for (int64_t i = 0; i < n; ++i) {
    int b = static_cast<int>((static_cast<double>(values[i]) - lo) / width);
    count[static_cast<size_t>(std::clamp(b, 0, bins - 1))] += 1;
  }
  std::string h, packed;
  put_double(h, 1, lo);
  put_double(h, 2, hi);
  put_double(h, 3, static_cast<double>(n));
  put_double(h, 4, sum);
  put_double(h, 5, sum_sq);
  for (double x : limit) put_fixed(packed, x);
  put_bytes(h, 6, packed);
  packed.clear();
  for (double x : count) put_fixed(packed, x);
  put_bytes(h, 7, packed);
  std::string v;
  put_bytes(v, 1, tag);
  put_bytes(v, 5, h);
  write_event(event_bytes(step, v));
}

std::vector<EventRecord> read_events(const std::string& path) {
  const std::string bytes = read_all(path);
  std::vector<EventRecord> out;
  size_t pos = 0, at = 0;
  uint64_t n = 0;
  while (next_record(bytes, pos, path, out.size(), /*tolerant=*/false, at, n)) {
    out.push_back(parse_event(bytes.data() + at, n, path + ": record " + std::to_string(out.size())));
    pos = at + n + 4;
  }
  return out;
}

void EventWriter::image(const std::string& tag, int64_t step, const U8Image& img) {
  const std::string encoded = encode_png(img);  // checks the shape
  std::string im;
  put_key(im, 1, 0), put_varint(im, static_cast<uint64_t>(img.H));
  put_key(im, 2, 0), put_varint(im, static_cast<uint64_t>(img.W));
  put_key(im, 3, 0), put_varint(im, static_cast<uint64_t>(img.C));  // 1 grayscale, 3 RGB
  put_bytes(im, 4, encoded);
  std::string v;
  put_bytes(v, 1, tag);
  put_bytes(v, 4, im);
  write_event(event_bytes(step, v));
}

void EventWriter::session_start(int64_t step) {
  const double wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string ev, session;
  put_double(ev, 1, wall);
  put_key(ev, 2, 0);
  put_varint(ev, static_cast<uint64_t>(step));
  put_key(session, 1, 0);
  put_varint(session, 1);  // SessionLog.START
  put_bytes(ev, 7, session);
  write_event(ev);
}

int64_t prune_events(const std::string& dir, const std::function<bool(int64_t step, const std::string& tag)>& keep) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  int64_t dropped = 0;
  std::vector<std::string> files;  // listed first: the loop below creates and renames files
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find("tfevents") != std::string::npos && entry.path().extension() != ".tmp")
      files.push_back(entry.path().string());
  }
  for (const std::string& path : files) {
    const std::string bytes = read_all(path);
    std::string kept;
    size_t pos = 0, at = 0, index = 0;
    uint64_t n = 0;
    bool changed = false;
    while (next_record(bytes, pos, path, index, /*tolerant=*/true, at, n)) {
      const EventRecord r = parse_event(bytes.data() + at, n, path + ": record " + std::to_string(index));
      std::string tag;
      if (!r.scalars.empty()) tag = r.scalars[0].first;
      else if (!r.histograms.empty()) tag = r.histograms[0].tag;
      else if (!r.images.empty()) tag = r.images[0].tag;
      if (tag.empty() || keep(r.step, tag)) kept.append(bytes, pos, at + n + 4 - pos);
      else ++dropped, changed = true;
      pos = at + n + 4, ++index;
    }
    if (pos < bytes.size()) changed = true;  // a torn tail
    if (!changed) continue;
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(kept.data(), static_cast<std::streamsize>(kept.size()));
      out.flush();
      if (!out) fail_input(tmp, ": write failed");
    }
    fs::rename(tmp, path, ec);
    if (ec) fail_input(path, ": cannot replace: ", ec.message());
  }
  return dropped;
}

}  // namespace cvtrain
