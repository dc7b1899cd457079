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
// What is at `path` is never replaced by something else: a symbolic link has its target written (the
// link stays), a character device or a FIFO (/dev/null, a pipe) and anything named under /dev or
// /proc (/dev/stdout: perhaps a file a shell redirect opened) get the bytes streamed to them,
// appended, and a folder, a block device, a socket or a link to a missing file is refused.
void write_file_atomic(const std::string& path, const std::function<bool(std::FILE*)>& write_body);
void write_text_atomic(const std::string& path, const std::string& text);
// `to` becomes a copy of the regular file `from`, atomically as above; InputError naming `from`
// when it cannot be read.
void copy_file_atomic(const std::string& from, const std::string& to);
// Removes from `dir` (not its subfolders) the temporaries of processes killed inside one of the
// writes above: "NAME.tmp.PID" where PID is another process's. Only for a folder this process holds
// (DirLock below), where no other process writes; a missing folder is no error.
void remove_killed_writes(const std::string& dir);

// The file a write to `path` goes to: `path` (missing, a regular file, a character device, a FIFO)
// or a symbolic link's target; InputError naming `path` for anything else.
std::string write_target(const std::string& path);

// fwrite of all `n` bytes (true when n is 0).
inline bool write_all(std::FILE* f, const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, f) == n; }

// An advisory lock on DIR/.lock for the object's life (flock: the kernel releases it when the process
// ends, so a killed run leaves no stale lock). A second holder gets an InputError naming the folder
// and the process that holds it. The folder must exist.
class DirLock {
 public:
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

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
