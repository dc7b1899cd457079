// ncclCommInitRank with a unique id broadcast over the host communicator, then one ncclAllReduce
// (ncclAvg) per step over the arena's device gradient block, ordered on the runtime's stream, so
// the optimizer's kernels that follow on that stream see the mean. NOTE: NCCL calls have no
// deadline of their own; a dead rank is caught by the host communicator's next collective (the
// batch totals of the next step) and its train.dist_timeout_s.
#include "cvtrain/dist/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdio>
#include <cstring>
#include <iterator>

#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::dist {
namespace {

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> host, int device) : host_(std::move(host)) {
    static_assert(sizeof(ncclUniqueId) % sizeof(uint64_t) == 0);
    ncclUniqueId id{};
    uint64_t words[sizeof(ncclUniqueId) / sizeof(uint64_t)] = {};
    if (host_->rank() == 0) {
      check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      std::memcpy(words, &id, sizeof id);
    }
    host_->broadcast(words, static_cast<int64_t>(std::size(words)), 0, "the NCCL unique id");
    std::memcpy(&id, words, sizeof id);
    CUDA_CHECK(cudaSetDevice(device));
    check(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()), "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string describe() const override {
    int v = 0;
    ncclGetVersion(&v);
    return "nccl " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
           " over " + host_->describe();
  }
  void allreduce_sum(float* d, int64_t n, const char* what) override { host_->allreduce_sum(d, n, what); }
  void allreduce_sum(double* d, int64_t n, const char* what) override { host_->allreduce_sum(d, n, what); }
  void broadcast(float* d, int64_t n, int root, const char* what) override { host_->broadcast(d, n, root, what); }
  void broadcast(uint64_t* d, int64_t n, int root, const char* what) override { host_->broadcast(d, n, root, what); }
  void start_allreduce_sum(float* d, int64_t n, const char* what) override { host_->start_allreduce_sum(d, n, what); }
  void progress() override { host_->progress(); }
  void wait_started(const char* what) override { host_->wait_started(what); }
  bool has_device_allreduce() const override { return true; }
  void allreduce_mean_device(float* data, int64_t n, cuda::Runtime& rt, const char* what) override {
    check(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat, ncclAvg, comm_, rt.impl().stream), what);
  }
  void abort(int code) override {
    if (comm_) ncclCommAbort(comm_), comm_ = nullptr;
    host_->abort(code);
  }

 private:
  void check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess) return;
    std::fprintf(stderr, "cvtrain: rank %d of %d: NCCL error in %s: %s. Stopping the job.\n", rank(), size(), what,
                 ncclGetErrorString(r));
    std::fflush(stderr);
    abort(3);
  }

  std::unique_ptr<Communicator> host_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host, int device) {
  return std::make_unique<NcclCommunicator>(std::move(host), device);
}

}  // namespace cvtrain::dist
