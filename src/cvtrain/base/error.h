// Errors and the one CHECK macro. Two kinds: InputError is the user's to fix (bad config, bad file,
// bad argument: the program exits 2); Error is ours (a broken invariant: the program exits 1).
// Not a logging facility; nothing here prints.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <vector>

namespace cvtrain {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: a file, a config key, an argument. The message names the file or key.
class InputError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_check(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

template <class... Args>
[[noreturn]] void fail_input(const Args&... args) {
  throw InputError(detail::concat(args...));
}

// printf into a std::string (messages and report text; longer results are cut at 1023 bytes).
std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));

// A closed set of names an option takes, as errors and the config reference list it: "a, b, c".
std::string join_names(const std::vector<std::string>& names);

// The name of `names` nearest to `name` by edit distance (Levenshtein), when fewer than `within`
// edits away: the "did you mean" of a typo; "" when none is that near.
std::string nearest_name(const std::vector<std::string>& names, const std::string& name, size_t within = 4);

// The index of `name` in `names`; else InputError "<key>: unknown <noun> 'x' (known: a, b)".
size_t index_of_name(const std::vector<std::string>& names, const std::string& name, const char* key,
                     const char* noun);

}  // namespace cvtrain

// CHECK(cond, parts...): throws cvtrain::Error naming the source line, the condition and the message
// (ops pass their name and the shapes involved). For invariants and shapes, not for user input.
#define CHECK(cond, ...)                                                                  \
  do {                                                                                    \
    if (!(cond)) [[unlikely]]                                                             \
      ::cvtrain::detail::throw_check(__FILE__, __LINE__, #cond,                           \
                                     ::cvtrain::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define DCHECK(cond, ...) \
  do {                    \
  } while (0)
#else
#define DCHECK(cond, ...) CHECK(cond, __VA_ARGS__)
#endif
