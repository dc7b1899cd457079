// The distributed sampler: every rank draws the same permutation of the training set for an epoch
// from the run's seed and the epoch alone (not from the trainer's RNG, whose draws may differ per
// rank), cuts it into global batches of local_batch x world examples, and keeps its own contiguous
// slice of each, so rank r's k-th local batch is part r of global batch k, and the global batches
// are those of one process with batch local_batch x world. Not the loader (data/loader.h), which
// then reads the shard in order.
#pragma once
#include <cstdint>
#include <vector>

#include "cvtrain/data/dataset.h"

namespace cvtrain::dist {

// The permutation of [0, n) for `epoch` (from 0): a pure function of (seed, epoch).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

struct Shard {
  std::vector<int64_t> indices;       // dataset indices of this rank's examples, local batch after local batch
  std::vector<int64_t> local_sizes;   // this rank's examples in each global batch (the last may be 0)
  std::vector<int64_t> global_sizes;  // examples in each global batch (the same on every rank)
};

// The examples of `epoch` after the first `skip` of its order (a resumed epoch), as rank `rank` of
// `world` sees them. Full global batches give every rank local_batch examples; a last, smaller one
// is split as evenly as the count allows (the first L % world ranks get one more); with drop_last
// it is left out.
Shard shard_epoch(int64_t n, uint64_t seed, int64_t epoch, int64_t skip, int rank, int world, int64_t local_batch,
                  bool drop_last);

// Global batches in a full epoch of n examples.
int64_t global_batches(int64_t n, int64_t global_batch, bool drop_last);

// The examples `indices` of `data`, in that order (images copied; class names kept).
Dataset gather(const Dataset& data, const std::vector<int64_t>& indices);

}  // namespace cvtrain::dist
