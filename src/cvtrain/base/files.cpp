#include "cvtrain/base/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "cvtrain/base/error.h"

namespace cvtrain {

namespace {

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// write_file_atomic writes `path` through the temporary PATH.tmp.PID; remove_killed_writes finds
// those of other processes by the same mark.
constexpr std::string_view kTemporaryMark = ".tmp.";
std::string temporary_of(const std::string& path, pid_t pid) {
  return path + std::string(kTemporaryMark) + std::to_string(pid);
}

void fsync_folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

// A character device (/dev/null, a terminal) or a FIFO gets the bytes streamed to it: nothing to
// replace, and a rename would put a regular file in its place.
void stream_to(const std::string& path, const std::function<bool(std::FILE*)>& write_body) {
  std::FILE* f = std::fopen(path.c_str(), "ab");  // never truncates what a redirect points at
  if (!f) fail_input(path, ": cannot write: ", std::strerror(errno));
  bool ok = write_body(f) && std::fflush(f) == 0;
  const int err = errno;
  if (std::fclose(f) != 0 && ok) fail_input(path, ": write failed: ", std::strerror(errno));
  if (!ok) fail_input(path, ": write failed: ", std::strerror(err));
}

// /dev/stdout, /dev/fd/N, /proc/self/fd/N: names of something already open (a terminal, a pipe, a
// file a shell redirect opened); they are streamed to, never resolved and replaced.
bool names_an_open_file(const std::string& path) {
  return path.rfind("/dev/", 0) == 0 || path.rfind("/proc/", 0) == 0;
}

}  // namespace

void copy_file_atomic(const std::string& from, const std::string& to) {
  std::FILE* in = std::fopen(from.c_str(), "rb");
  if (!in) fail_input(from, ": cannot open: ", std::strerror(errno));
  try {
    write_file_atomic(to, [in](std::FILE* out) {
      char buf[1 << 16];
      size_t n = 0;
      while ((n = std::fread(buf, 1, sizeof buf, in)) > 0)
        if (!write_all(out, buf, n)) return false;
      return std::ferror(in) == 0;
    });
  } catch (...) {
    std::fclose(in);
    throw;
  }
  std::fclose(in);
}

void remove_killed_writes(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  const std::string own = std::to_string(getpid());
  std::vector<std::string> killed;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    const size_t at = name.rfind(kTemporaryMark);
    if (at == std::string::npos || at == 0) continue;
    const std::string pid = name.substr(at + kTemporaryMark.size());
    if (pid.empty() || pid == own || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    killed.push_back(dir + "/" + name);
  }
  closedir(d);
  for (const std::string& path : killed) std::remove(path.c_str());
}

std::string write_target(const std::string& path) {
  struct stat st {};
  if (names_an_open_file(path)) return path;
  if (lstat(path.c_str(), &st) != 0) return path;  // a new file
  if (S_ISREG(st.st_mode)) return path;
  if (S_ISLNK(st.st_mode)) {  // the file it points to is written, and the link stays
    char* real = realpath(path.c_str(), nullptr);
    if (!real) fail_input(path, ": a symbolic link to a missing file (", std::strerror(errno), "); give the target's path");
    std::string target(real);
    std::free(real);
    if (stat(target.c_str(), &st) != 0) fail_input(path, ": cannot read the link's target: ", std::strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
      fail_input(path, ": a symbolic link to ", kind_of(st.st_mode), " (", target, "); refusing to write there");
    return target;
  }
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return path;
  fail_input(path, ": ", kind_of(st.st_mode), "; refusing to write there");
}

void write_file_atomic(const std::string& path_in, const std::function<bool(std::FILE*)>& write_body) {
  const std::string path = write_target(path_in);
  struct stat st {};
  const bool exists = stat(path.c_str(), &st) == 0;
  if (names_an_open_file(path) && (!exists || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode)))
    fail_input(path_in, ": ", exists ? kind_of(st.st_mode) : "no such device", "; refusing to write there");
  if (names_an_open_file(path) || (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))))
    return stream_to(path, write_body);
  const std::string tmp = temporary_of(path, getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail_input(path_in, ": cannot write: ", std::strerror(errno));
  bool ok = write_body(f) && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  if (std::fclose(f) != 0 && ok) ok = false, err = errno;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (!ok) {
    std::remove(tmp.c_str());
    fail_input(path_in, ": write failed: ", std::strerror(err));
  }
  // Make the rename itself durable; a failure here loses nothing already written, so it is ignored.
  fsync_folder_of(path);
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::FILE* f) { return write_all(f, text.data(), text.size()); });
}

DirLock::DirLock(const std::string& dir) {
  const std::string path = dir + "/.lock";
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) fail_input(dir, ": cannot lock the folder (", path, "): ", std::strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char owner[32] = {0};
    const ssize_t n = pread(fd_, owner, sizeof owner - 1, 0);
    close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      fail_input(dir, ": in use by another cvtrain process (pid ", n > 0 ? std::string(owner, static_cast<size_t>(n)) : "?",
                 "); wait for it to end or use another folder");
    fail_input(dir, ": cannot lock the folder: ", std::strerror(err));
  }
  const std::string pid = std::to_string(getpid());
  const bool noted = ftruncate(fd_, 0) == 0 && pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
  (void)noted;  // without the pid the lock still holds; only a second process's message is poorer
}

DirLock::~DirLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
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
