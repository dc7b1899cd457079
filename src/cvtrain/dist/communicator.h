// The ranks of a data-parallel run and the few collectives training needs (sum all-reduce,
// broadcast), behind one explicit object the trainer is handed: LocalCommunicator is the world of
// one process; the MPI one (dist/mpi/mpi_communicator.h) is built only where MPI was found. Every
// blocking collective has a deadline, so a dead rank stops the others with a message instead of a
// hang. Not the sampler (sampler.h) and not the training loop.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

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

}  // namespace cvtrain::dist
