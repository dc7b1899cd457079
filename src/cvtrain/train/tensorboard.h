// TensorBoard event files: the TFRecord layout (uint64 length, masked CRC32C of the length, an
// Event protobuf, masked CRC32C of the data) with Event / Summary / HistogramProto encoded by hand
// for the few fields written (field numbers of tensorflow/core/util/event.proto and summary.proto),
// scalars, histograms, PNG images and the SessionLog START of a resumed run. A reader of the same
// subset, for tests and tools, and the pruning a resumed run applies to the files of its dead
// predecessor. Not a general protobuf library.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/data/image_io.h"

namespace cvtrain {

class EventWriter {
 public:
  // Creates `dir` and a new file events.out.tfevents.<seconds>.<host>.<pid> in it (a numbered
  // suffix when that name is taken), starting with the file_version event TensorBoard expects.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void scalar(const std::string& tag, int64_t step, double value);
  // values: (n); `bins` equal-width buckets between their min and max.
  void histogram(const std::string& tag, int64_t step, const float* values, int64_t n, int bins = 30);
  // img: (C,H,W) u8 with C 1 or 3, stored PNG-encoded in a Summary.Image.
  void image(const std::string& tag, int64_t step, const U8Image& img);
  // SessionLog START at `step`: TensorBoard drops what it loaded at steps >= `step` (a restart).
  void session_start(int64_t step);
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event_bytes);
  std::string path_;
  std::FILE* f_ = nullptr;
};

// What the reader gives back for one Event.
struct EventRecord {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> scalars;
  struct Histo {
    std::string tag;
    double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
    std::vector<double> bucket_limit, bucket;
  };
  std::vector<Histo> histograms;
  struct Image {
    std::string tag;
    int64_t height = 0, width = 0, colorspace = 0;
    std::string png;  // encoded_image_string
  };
  std::vector<Image> images;
  int64_t session_status = 0;  // SessionLog.status: 1 START (0: no session_log)
};

// Reads every record, checking both CRCs of each (InputError naming the file and the record).
std::vector<EventRecord> read_events(const std::string& path);

// Rewrites every event file in `dir` (atomically) keeping the records for which keep(step, tag) is
// true (tag: the record's first summary tag; records without one are always kept). A torn last
// record (a killed writer) is dropped. Returns the number of records dropped.
int64_t prune_events(const std::string& dir, const std::function<bool(int64_t step, const std::string& tag)>& keep);

}  // namespace cvtrain
