// What the subcommands share beyond train/setup.h: the process's OpenMP thread count.
#include <omp.h>

#include "cvtrain/cli/commands.h"

namespace cvtrain::cli {

void apply_threads(const RunConfig& cfg) {
  // NOTE: OpenMP's thread count is process state; the program sets it here, once, from the config.
  if (cfg.threads > 0) omp_set_num_threads(static_cast<int>(cfg.threads));
}

}  // namespace cvtrain::cli
