// The launcher check: the variables Open MPI, MPICH/Hydra and PMIx-based launchers (srun) set.
#include "cvtrain/dist/communicator.h"

#include <cstdlib>

#include "cvtrain/base/error.h"

namespace cvtrain::dist {

void Communicator::allreduce_mean_device(float*, int64_t, cuda::Runtime&, const char* what) {
  fail_input("device: cuda: ", describe(), " cannot sum device memory (", what,
             "); data-parallel training on GPUs needs a build with NCCL (docs/distributed.md)");
}

int local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace cvtrain::dist
