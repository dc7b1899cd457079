// Small file helpers with the project's error rules: failures are InputErrors naming the path and
// the system's reason; whole-file writes are atomic (temporary file, fsync, rename).
#pragma once
#include <cstdio>
#include <string>

namespace cvtrain {

void write_text_atomic(const std::string& path, const std::string& text);

// Appends lines to a file, flushing each one, so a killed run keeps every finished line.
class LineAppender {
 public:
  explicit LineAppender(const std::string& path);  // truncates
  ~LineAppender();
  LineAppender(const LineAppender&) = delete;
  LineAppender& operator=(const LineAppender&) = delete;
  void append(const std::string& line);

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace cvtrain
