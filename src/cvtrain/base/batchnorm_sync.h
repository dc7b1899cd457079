// The seam of synchronized batch norm (train.sync_bn): kernels hand their per-channel
// sums to this interface, which replaces them by the sums over every process of a data-parallel
// run. The kernels only see this interface (dist/ implements it over a Communicator); a null
// pointer means "this process's batch is the whole batch". Not a communicator.
#pragma once
#include <cstdint>

namespace cvtrain {

class BatchNormSync {
 public:
  virtual ~BatchNormSync() = default;
  // In place: data[i] <- the sum over all processes of data[i]. Every process calls it the same
  // number of times, in the same order, with the same n (a collective).
  virtual void allreduce_sums(double* data, int64_t n) = 0;
};

}  // namespace cvtrain
