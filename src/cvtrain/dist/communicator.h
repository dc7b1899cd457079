// The ranks of a data-parallel run and the few collectives training needs (sum all-reduce,
// broadcast), behind one explicit object the trainer is handed: LocalCommunicator is the world of
// one process; the MPI one (dist/mpi/mpi_communicator.h) is built only where MPI was found. Every
// blocking collective has a deadline, so a dead rank stops the others with a message instead of a
// hang. Not the sampler (sampler.h) and not the training loop.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "cvtrain/backend/cuda/runtime.h"

namespace cvtrain::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // What it is, for the run's first line ("mpi (OpenMPI 4.1.4), 2 ranks").
  virtual std::string describe() const = 0;
  // In place: data[i] <- sum over ranks of data[i]. `what` names the call in a timeout message.
  virtual void allreduce_sum(float* data, int64_t n, const char* what) = 0;
  virtual void allreduce_sum(double* data, int64_t n, const char* what) = 0;
  // data <- rank `root`'s data.
  virtual void broadcast(float* data, int64_t n, int root, const char* what) = 0;
  virtual void broadcast(uint64_t* data, int64_t n, int root, const char* what) = 0;
  // Non-blocking sums (the gradient buckets, overlapped with the backward pass): start_allreduce_sum
  // returns at once; progress() lets started sums move on (cheap: call it often, e.g. from the
  // autograd hook; Open MPI advances non-blocking collectives only inside MPI calls);
  // wait_started() waits for every started sum, with the deadline. Every rank starts the same sums
  // in the same order. The defaults sum at once (a blocking communicator).
  virtual void start_allreduce_sum(float* data, int64_t n, const char* what) { allreduce_sum(data, n, what); }
  virtual void progress() {}
  virtual void wait_started(const char* what) {}
  // device: cuda (the NCCL communicator, dist/nccl/): data[i] <- the MEAN over ranks of data[i], on
  // device memory, ordered on `rt`'s stream after the work that wrote it. Communicators without it
  // stop with a message.
  virtual bool has_device_allreduce() const { return false; }
  virtual void allreduce_mean_device(float* data, int64_t n, cuda::Runtime& rt, const char* what);
  // Ends every rank of the job (an error on one rank would leave the others waiting).
  virtual void abort(int code) = 0;
};

// One process: the collectives are identities.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "local, 1 rank"; }
  void allreduce_sum(float*, int64_t, const char*) override {}
  void allreduce_sum(double*, int64_t, const char*) override {}
  void broadcast(float*, int64_t, int, const char*) override {}
  void broadcast(uint64_t*, int64_t, int, const char*) override {}
  void abort(int) override {}
};

// True when an MPI launcher started this process (mpirun / mpiexec / srun with PMI or PMIx set
// their variables), whether or not this build can speak MPI.
bool launched_by_mpi();

// This rank's index among the ranks on its machine (Open MPI, Slurm, MPICH/Hydra variables; 0 when
// none is set): which GPU it takes with device: cuda.
int local_rank();

}  // namespace cvtrain::dist
