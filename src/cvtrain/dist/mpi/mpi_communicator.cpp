// MPI_Iallreduce / MPI_Ibcast then MPI_Test in a loop until done or past the deadline: a blocking
// MPI_Allreduce would wait forever for a rank that died without the launcher noticing. On a
// timeout or an MPI error the rank says so on stderr and calls MPI_Abort, which ends every rank.
#include "cvtrain/dist/mpi/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "cvtrain/base/error.h"

namespace cvtrain::dist {
namespace {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(double timeout_s, int64_t bucket_floats) : timeout_s_(timeout_s), bucket_(bucket_floats) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owns_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override {
    if (owns_) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    std::string v(version, static_cast<size_t>(len));
    v = v.substr(0, v.find_first_of(",\n"));
    return "mpi (" + v + "), " + std::to_string(size_) + " ranks";
  }
  void allreduce_sum(float* data, int64_t n, const char* what) override { reduce(data, n, MPI_FLOAT, what); }
  void allreduce_sum(double* data, int64_t n, const char* what) override { reduce(data, n, MPI_DOUBLE, what); }
  void broadcast(float* data, int64_t n, int root, const char* what) override { bcast(data, n, MPI_FLOAT, root, what); }
  void broadcast(uint64_t* data, int64_t n, int root, const char* what) override {
    bcast(data, n, MPI_UINT64_T, root, what);
  }
  void start_allreduce_sum(float* data, int64_t n, const char* what) override {
    CHECK(n <= INT_MAX, "start_allreduce_sum: ", n, " floats in one call (", what, ")");
    started_.emplace_back();
    check(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &started_.back()),
          what);
  }
  void progress() override {
    int done = 0;  // MPI_Testall drives Open MPI's progress engine; done requests become MPI_REQUEST_NULL
    if (!started_.empty())
      check(MPI_Testall(static_cast<int>(started_.size()), started_.data(), &done, MPI_STATUSES_IGNORE),
            "the overlapped gradient all-reduce");
  }
  void wait_started(const char* what) override {
    if (!started_.empty()) wait(started_, what);
    started_.clear();
  }
  void abort(int code) override { MPI_Abort(MPI_COMM_WORLD, code); }

 private:
  template <typename T>
  void reduce(T* data, int64_t n, MPI_Datatype type, const char* what) {
    std::vector<MPI_Request> req;
    for (int64_t at = 0; at < n; at += bucket_) {  // every bucket in flight at once
      const int count = static_cast<int>(std::min(bucket_, n - at));
      req.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, data + at, count, type, MPI_SUM, MPI_COMM_WORLD, &req.back()), what);
    }
    wait(req, what);
  }
  template <typename T>
  void bcast(T* data, int64_t n, MPI_Datatype type, int root, const char* what) {
    std::vector<MPI_Request> req;
    for (int64_t at = 0; at < n; at += bucket_) {
      const int count = static_cast<int>(std::min(bucket_, n - at));
      req.emplace_back();
      check(MPI_Ibcast(data + at, count, type, root, MPI_COMM_WORLD, &req.back()), what);
    }
    wait(req, what);
  }
  void wait(std::vector<MPI_Request>& req, const char* what) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int polls = 0;; ++polls) {
      int done = 0;
      check(MPI_Testall(static_cast<int>(req.size()), req.data(), &done, MPI_STATUSES_IGNORE), what);
      if (done) return;
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (timeout_s_ > 0 && waited > timeout_s_) {
        std::fprintf(stderr,
                     "cvtrain: rank %d of %d: no answer from the other ranks for %.0f s in %s; a rank has died or "
                     "hangs (train.dist_timeout_s). Stopping the job; resume it from its last checkpoint with "
                     "cvtrain train --resume RUN_DIR\n",
                     rank_, size_, waited, what);
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 3);
      }
      // NOTE: yield after a short spin, so a waiting rank does not take the core of a busy one
      if (polls > 200) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    std::fprintf(stderr, "cvtrain: rank %d of %d: MPI error in %s: %.*s. Stopping the job.\n", rank_, size_, what, len,
                 msg);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 3);
  }

  double timeout_s_;
  int64_t bucket_;
  std::vector<MPI_Request> started_;  // start_allreduce_sum's, until wait_started
  int rank_ = 0, size_ = 1;
  bool owns_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s, int64_t bucket_floats) {
  return std::make_unique<MpiCommunicator>(timeout_s, bucket_floats);
}

}  // namespace cvtrain::dist
