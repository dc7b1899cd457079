// What data-parallel training adds around the trainer's step, on any Communicator: identical
// starting weights (rank 0's, broadcast), the per-batch totals every rank needs (examples, loss,
// correct, a non-finite flag), the gradient sum over the flat arena in buckets (overlapped with
// the backward pass or after it) and the batch-norm seam of train.sync_bn. Not the sampler
// (sampler.h) and not the loop itself (train/trainer.cpp calls these).
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "cvtrain/autograd/variable.h"
#include "cvtrain/base/batchnorm_sync.h"
#include "cvtrain/dist/communicator.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/module.h"

namespace cvtrain::dist {

// Rank 0's parameters and f32 buffers (batch-norm running statistics) to every rank.
void broadcast_model(Communicator& comm, nn::Module& model, nn::ParameterArena& arena);

// One batch over all ranks: sums of the ranks' example counts, loss x examples, correct
// predictions and non-finite losses.
struct BatchTotals {
  double images = 0, loss_sum = 0, correct = 0, nonfinite = 0;
};
BatchTotals reduce_batch(Communicator& comm, int64_t images, double loss, int64_t correct, bool nonfinite);
// Totals already gathered on this rank (local SGD: the batches since the last average), summed.
BatchTotals sum_totals(Communicator& comm, BatchTotals mine);

// The arena's gradient block cut into buckets in reverse parameter order (the order the backward
// pass finishes them): bucket 0 ends at the arena's end. Each is a contiguous range of whole
// parameters (and the zero padding between them) of at least `bucket_floats` floats, but the last.
struct GradBucket {
  int64_t begin = 0, end = 0;  // floats, into arena.grad()
  int pending = 0;             // parameters whose gradient is not final yet (during a backward)
};
std::vector<GradBucket> make_grad_buckets(const nn::ParameterArena& arena, int64_t bucket_floats);

// The gradient all-reduce of a data-parallel step, in buckets, the same buckets in the same order
// whether overlapped or not, so both give the same bits (tested). Overlapped: pass hook() to the
// backward of the batch that completes the step; each bucket is started (non-blocking) as soon as
// its parameters' gradients are final and every earlier bucket has started (the ranks must start
// them in the same order). finish() starts the rest and waits for all: then grad holds the sum.
class GradientAllreduce {
 public:
  GradientAllreduce(Communicator& comm, nn::Module& model, const nn::ParameterArena& arena, int64_t bucket_floats);
  // For Variable::backward: counts a parameter as final, starts the buckets that became ready.
  GradReadyFn hook();
  void finish();
  const std::vector<GradBucket>& buckets() const { return buckets_; }
  int64_t started_in_backward() const { return started_in_backward_; }  // over the run, for the log

 private:
  void reset();
  void on_ready(const VarImpl& leaf);
  Communicator& comm_;
  const nn::ParameterArena& arena_;
  std::vector<GradBucket> buckets_;
  std::vector<int> bucket_of_;  // per arena entry
  std::unordered_map<const VarImpl*, int> entry_of_;
  size_t next_ = 0;  // the first bucket not started
  int64_t started_in_backward_ = 0;
};

// train.sync_bn: the batch-norm seam (base/batchnorm_sync.h) over a communicator.
class CommBatchNormSync final : public BatchNormSync {
 public:
  explicit CommBatchNormSync(Communicator& comm) : comm_(comm) {}
  void allreduce_sums(double* data, int64_t n) override {
    comm_.allreduce_sum(data, n, "the batch-norm statistics (train.sync_bn)");
  }

 private:
  Communicator& comm_;
};

// Local SGD (train.dist_local_sgd): every span becomes its mean over the ranks, in one all-reduce
// (the weights, the optimizer's momentum, the batch-norm statistics, packed together so the
// network's latency is paid once). The spans are host memory.
struct FloatSpan {
  float* data;
  int64_t size;
};
void average_spans(Communicator& comm, const std::vector<FloatSpan>& spans, std::vector<float>& scratch);

// Whether every rank holds the same parameters as rank 0 (a checksum of the bits compared).
bool same_weights_everywhere(Communicator& comm, const nn::ParameterArena& arena);

// Rank 0's f32 buffers (per-rank batch-norm statistics) to every rank, and its parameters too when
// some rank's differ: the same steps on the same summed gradients give the same bits, unless the
// MPI library sums in a different order on different ranks. Returns whether they differed.
bool sync_model(Communicator& comm, nn::Module& model, nn::ParameterArena& arena);

}  // namespace cvtrain::dist
