#include "cvtrain/base/error.h"

#include <cstring>

namespace cvtrain::detail {

void throw_check(const char* file, int line, const char* cond, const std::string& msg) {
  const char* base = std::strrchr(file, '/');
  throw Error(concat(msg.empty() ? std::string("check failed") : msg, " [", cond, " at ",
                     base ? base + 1 : file, ":", line, "]"));
}

}  // namespace cvtrain::detail

namespace cvtrain {

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

size_t index_of_name(const std::vector<std::string>& names, const std::string& name, const char* key,
                     const char* noun) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  fail_input(key, ": unknown ", noun, " '", name, "' (known: ", join_names(names), ")");
}

}  // namespace cvtrain
