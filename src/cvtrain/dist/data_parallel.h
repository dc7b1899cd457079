// What data-parallel training adds around the trainer's step, on any Communicator: identical
// starting weights (rank 0's, broadcast), the per-batch totals every rank needs (examples, loss,
// correct, a non-finite flag) and the gradient sum over the flat arena. Not the sampler (sampler.h)
// and not the loop itself (train/trainer.cpp calls these).
#pragma once
#include <cstdint>

#include "cvtrain/dist/communicator.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/module.h"

namespace cvtrain::dist {

// Rank 0's parameters and f32 buffers (batch-norm running statistics) to every rank.
void broadcast_model(Communicator& comm, nn::Module& model, const nn::ParameterArena& arena);

// One batch over all ranks: sums of the ranks' example counts, loss x examples, correct
// predictions and non-finite losses.
struct BatchTotals {
  double images = 0, loss_sum = 0, correct = 0, nonfinite = 0;
};
BatchTotals reduce_batch(Communicator& comm, int64_t images, double loss, int64_t correct, bool nonfinite);

// grad <- sum over ranks of grad (the arena's gradient block, all-reduced in buckets).
void allreduce_gradients(Communicator& comm, const nn::ParameterArena& arena);

// Whether every rank holds the same parameters as rank 0 (a checksum of the bits compared).
bool same_weights_everywhere(Communicator& comm, const nn::ParameterArena& arena);

// Rank 0's f32 buffers (per-rank batch-norm statistics) to every rank, and its parameters too when
// some rank's differ: the same steps on the same summed gradients give the same bits, unless the
// MPI library sums in a different order on different ranks. Returns whether they differed.
bool sync_model(Communicator& comm, nn::Module& model, const nn::ParameterArena& arena);

}  // namespace cvtrain::dist
