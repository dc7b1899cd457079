#include "cvtrain/cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <utility>

namespace cvtrain::cli {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr int kWidth = 30;

// "[=====>     ]" for done of total.
void bar(char (&out)[kWidth + 1], int64_t done, int64_t total) {
  const int filled = static_cast<int>(kWidth * done / (total ? total : 1));
  for (int i = 0; i < kWidth; ++i) out[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
  out[kWidth] = 0;
}
}  // namespace

Progress::Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}

void Progress::update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double accuracy,
                      double images_per_s, double eta_s) {
  if (!due(step == steps)) return;
  char b[kWidth + 1];
  bar(b, step, steps);
  std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld loss %.4f acc %.1f%% %.0f img/s ETA %.0fs",
               static_cast<long long>(epoch), static_cast<long long>(epochs), b, static_cast<long long>(step),
               static_cast<long long>(steps), loss, 100 * accuracy, images_per_s, eta_s);
  drawn_ = true;
  std::fflush(stderr);
}

PassProgress Progress::pass(std::string what) {
  if (!enabled_) return {};
  return [this, what = std::move(what), t0 = now_s()](int64_t done, int64_t total) {
    if (!due(done == total)) return;
    const double elapsed = now_s() - t0, per_s = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
    const double eta = per_s > 0 ? static_cast<double>(total - done) / per_s : 0;
    char b[kWidth + 1];
    bar(b, done, total);
    std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %.0f img/s ETA %.0fs", what.c_str(), b,
                 static_cast<long long>(done), static_cast<long long>(total), per_s, eta);
    drawn_ = true;
    std::fflush(stderr);
  };
}

bool Progress::due(bool last) {
  if (!enabled_) return false;
  const double t = now_s();
  if (!last && t - last_draw_ < 0.1) return false;
  last_draw_ = t;
  return true;
}

void Progress::clear() {
  if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

}  // namespace cvtrain::cli
