// The MPI communicator (Open MPI from Debian; any MPI-3 library): MPI_COMM_WORLD with
// MPI_ERRORS_RETURN, every collective non-blocking and waited for with a deadline, large sums
// issued as buckets all in flight at once. Built into cvtrain_mpi only when CMake finds MPI
// (CVTRAIN_MPI=AUTO|ON), so the library itself never depends on MPI.
#pragma once
#include <memory>

#include "cvtrain/dist/communicator.h"

namespace cvtrain::dist {

// Initializes MPI (MPI_THREAD_FUNNELED: OpenMP threads never call MPI) on construction and
// finalizes it on destruction. timeout_s: how long a collective may wait for the other ranks
// before this rank prints which call and step timed out and aborts the job.
std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s, int64_t bucket_floats = 1 << 20);

}  // namespace cvtrain::dist
