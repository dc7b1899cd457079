#include "cvtrain/base/error.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include <cstring>

namespace cvtrain::detail {

void throw_check(const char* file, int line, const char* cond, const std::string& msg) {
  const char* base = std::strrchr(file, '/');
  throw Error(concat(msg.empty() ? std::string("check failed") : msg, " [", cond, " at ",
                     base ? base + 1 : file, ":", line, "]"));
}

}  // namespace cvtrain::detail

namespace cvtrain {

std::string fmt(const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string nearest_name(const std::vector<std::string>& names, const std::string& name, size_t within) {
  std::string best;
  for (const std::string& n : names) {
    const size_t d = edit_distance(name, n);
    if (d < within) within = d, best = n;
  }
  return best;
}

size_t index_of_name(const std::vector<std::string>& names, const std::string& name, const char* key,
                     const char* noun) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  fail_input(key, ": unknown ", noun, " '", name, "' (known: ", join_names(names), ")");
}

}  // namespace cvtrain
