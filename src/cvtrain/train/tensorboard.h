// TensorBoard event files: the TFRecord layout (uint64 length, masked CRC32C of the length, an
// Event protobuf, masked CRC32C of the data) with Event / Summary / HistogramProto encoded by hand
// for the few fields written (field numbers of tensorflow/core/util/event.proto and summary.proto),
// scalars and histograms. A reader of the same subset, for tests and tools. Not images, not a
// general protobuf library.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace cvtrain {

class EventWriter {
 public:
  // Creates `dir` and a new file events.out.tfevents.<seconds>.<host>.<pid> in it, starting with the
  // file_version event TensorBoard expects.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void scalar(const std::string& tag, int64_t step, double value);
  // values: (n); `bins` equal-width buckets between their min and max.
  void histogram(const std::string& tag, int64_t step, const float* values, int64_t n, int bins = 30);
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
};

// Reads every record, checking both CRCs of each (InputError naming the file and the record).
std::vector<EventRecord> read_events(const std::string& path);

}  // namespace cvtrain
