#include "cvtrain/base/files.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cvtrain/base/error.h"

namespace cvtrain {

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail_input(path, ": cannot write: ", std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    std::remove(tmp.c_str());
    fail_input(path, ": write failed: ", std::strerror(err));
  }
}

LineAppender::LineAppender(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
  if (!f_) fail_input(path, ": cannot write: ", std::strerror(errno));
}

LineAppender::~LineAppender() {
  if (f_) std::fclose(f_);
}

void LineAppender::append(const std::string& line) {
  if (std::fputs(line.c_str(), f_) < 0 || std::fputc('\n', f_) == EOF || std::fflush(f_) != 0)
    fail_input(path_, ": write failed: ", std::strerror(errno));
}

}  // namespace cvtrain
