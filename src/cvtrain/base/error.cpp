#include "cvtrain/base/error.h"

#include <cstring>

namespace cvtrain::detail {

void throw_check(const char* file, int line, const char* cond, const std::string& msg) {
  const char* base = std::strrchr(file, '/');
  throw Error(concat(msg.empty() ? std::string("check failed") : msg, " [", cond, " at ",
                     base ? base + 1 : file, ":", line, "]"));
}

}  // namespace cvtrain::detail
