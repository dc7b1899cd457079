// The launcher check: the variables Open MPI, MPICH/Hydra and PMIx-based launchers (srun) set.
#include "cvtrain/dist/communicator.h"

#include <cstdlib>

namespace cvtrain::dist {

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace cvtrain::dist
