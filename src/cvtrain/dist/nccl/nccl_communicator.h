// The NCCL communicator (device: cuda): gradients are averaged on the GPUs with
// ncclAllReduce on each rank's CUDA stream; everything else (batch totals, broadcasts, deadlines,
// abort) goes through the host communicator it wraps (MPI), which also carries NCCL's unique id
// from rank 0 to the others. Built into cvtrain_nccl only with CVTRAIN_CUDA=ON and NCCL found.
#pragma once
#include <memory>

#include "cvtrain/dist/communicator.h"

namespace cvtrain::dist {

// `device`: this rank's GPU (the one its cuda::Runtime uses). Collective over `host`'s ranks.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host, int device);

}  // namespace cvtrain::dist
