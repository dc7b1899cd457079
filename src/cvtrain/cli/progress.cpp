#include "cvtrain/cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace cvtrain::cli {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Progress::Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}

void Progress::update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double accuracy,
                      double images_per_s, double eta_s) {
  if (!enabled_) return;
  const double t = now_s();
  if (step != steps && t - last_draw_ < 0.1) return;
  last_draw_ = t;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * step / (steps ? steps : 1));
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
  bar[kWidth] = 0;
  std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld loss %.4f acc %.1f%% %.0f img/s ETA %.0fs",
               static_cast<long long>(epoch), static_cast<long long>(epochs), bar, static_cast<long long>(step),
               static_cast<long long>(steps), loss, 100 * accuracy, images_per_s, eta_s);
  drawn_ = true;
  std::fflush(stderr);
}

void Progress::clear() {
  if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

}  // namespace cvtrain::cli
