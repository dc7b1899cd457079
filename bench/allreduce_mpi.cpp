// The sum all-reduce that data-parallel training uses (cvtrain's MPI communicator: non-blocking,
// polled), timed alone on f32 buffers of several sizes, for fitting a cost model of the network
// (bench/multihost_netem.sh, docs/distributed.md). Run under mpirun; rank 0 prints one JSON line
// per size: {"ranks", "bytes", "median_s", "min_s", "reps"}.
//
//   mpirun -np P allreduce_mpi [--sizes 4,4096,...] [--reps 20] [--warmup 3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cvtrain/dist/mpi/mpi_communicator.h"

namespace {

struct Args {
  std::vector<int64_t> bytes{4, 64, 1024, 16384, 131072, 1 << 20, 4 << 20};
  int reps = 20, warmup = 3;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--reps") a.reps = std::atoi(v.c_str());
    else if (k == "--warmup") a.warmup = std::atoi(v.c_str());
    else if (k == "--sizes") {
      a.bytes.clear();
      std::stringstream s(v);
      for (std::string item; std::getline(s, item, ',');) a.bytes.push_back(std::atoll(item.c_str()));
    } else {
      std::fprintf(stderr, "allreduce_mpi: unknown option '%s'\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  // one bucket per call whatever its size, as a single gradient bucket
  auto comm = cvtrain::dist::make_mpi_communicator(60.0, int64_t{1} << 40);
  for (int64_t bytes : a.bytes) {
    std::vector<float> buf(static_cast<size_t>(std::max<int64_t>(bytes / 4, 1)), 1.0f);
    std::vector<double> took;
    for (int r = 0; r < a.warmup + a.reps; ++r) {
      double start = 0;  // every rank enters together, so the time is the collective's, not a wait for stragglers
      comm->allreduce_sum(&start, 1, "the start barrier");
      const auto t0 = std::chrono::steady_clock::now();
      comm->allreduce_sum(buf.data(), static_cast<int64_t>(buf.size()), "the timed all-reduce");
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      comm->allreduce_sum(&s, 1, "the timing");  // the mean over the ranks
      s /= comm->size();
      if (r >= a.warmup) took.push_back(s);
    }
    std::sort(took.begin(), took.end());
    if (comm->rank() == 0)
      std::printf("{\"ranks\": %d, \"bytes\": %lld, \"median_s\": %.6g, \"min_s\": %.6g, \"reps\": %d}\n",
                  comm->size(), static_cast<long long>(buf.size() * 4), took[took.size() / 2], took.front(), a.reps);
    std::fflush(stdout);
  }
  return 0;
}
