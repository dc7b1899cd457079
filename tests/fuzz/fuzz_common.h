// What every fuzz target shares: the bytes go to a file (the readers take paths, like the program),
// and the contract is checked: a reader either returns or throws InputError. Any other exception, a
// crash, a sanitizer report, a leak or an allocation above libFuzzer's -malloc_limit_mb is a finding.
// Not a test helper for the unit tests (tests/common).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "cvtrain/base/error.h"

namespace fuzz {

// A folder of this process's own under $TMPDIR (or /tmp), created once and reused.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string d = std::string(t && *t ? t : "/tmp") + "/cvtrain-fuzz-" + std::to_string(getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) std::abort();
    return d;
  }();
  return dir;
}

// Writes the bytes to scratch_dir()/name and returns the path.
inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// Runs a reader: InputError is the expected way to refuse bytes; anything else aborts (a finding).
template <class F>
void expect_input_error_only(F&& reader) {
  try {
    reader();
  } catch (const cvtrain::InputError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: a reader threw something other than InputError: %s\n", e.what());
    std::abort();
  }
}

}  // namespace fuzz
