// Small file helpers with the project's error rules: failures are InputErrors naming the path and
// the system's reason; whole-file writes are atomic (temporary file, fsync, rename).
#pragma once
#include <cstdio>
#include <functional>
#include <string>

namespace cvtrain {

// Writes `path` through `write_body` into a temporary file beside it, fsyncs, renames it over `path`
// and fsyncs the folder. write_body returns false on a failed write (errno set). On any failure the
// temporary file is removed, `path` is untouched, and an InputError names `path` and the reason.
void write_file_atomic(const std::string& path, const std::function<bool(std::FILE*)>& write_body);
void write_text_atomic(const std::string& path, const std::string& text);

// fwrite of all `n` bytes (true when n is 0).
inline bool write_all(std::FILE* f, const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, f) == n; }

// Appends lines to a file, flushing each one, so a killed run keeps every finished line.
class LineAppender {
 public:
  explicit LineAppender(const std::string& path, bool append = false);  // truncates unless `append`
  ~LineAppender();
  LineAppender(const LineAppender&) = delete;
  LineAppender& operator=(const LineAppender&) = delete;
  void append(const std::string& line);

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace cvtrain
