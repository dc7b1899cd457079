#include "cvtrain/base/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cvtrain/base/error.h"

namespace cvtrain {

void write_file_atomic(const std::string& path, const std::function<bool(std::FILE*)>& write_body) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail_input(path, ": cannot write: ", std::strerror(errno));
  bool ok = write_body(f) && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  if (std::fclose(f) != 0 && ok) ok = false, err = errno;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (!ok) {
    std::remove(tmp.c_str());
    fail_input(path, ": write failed: ", std::strerror(err));
  }
  // Make the rename itself durable; a failure here loses nothing already written, so it is ignored.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::FILE* f) { return write_all(f, text.data(), text.size()); });
}

LineAppender::LineAppender(const std::string& path, bool append)
    : path_(path), f_(std::fopen(path.c_str(), append ? "ab" : "wb")) {
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
