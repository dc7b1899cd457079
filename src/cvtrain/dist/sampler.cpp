// Fisher-Yates over a Philox stream keyed by (seed, epoch): every rank computes the same order
// without communicating, whatever it drew before.
#include "cvtrain/dist/sampler.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "cvtrain/base/error.h"
#include "cvtrain/tensor/rng.h"

namespace cvtrain::dist {

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  // a seed of its own per epoch: 0x5a... keeps it apart from the trainer's Rng(seed)
  Rng rng(seed * 0x9E3779B97F4A7C15ull + 0x5a4d504953414d50ull + static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)], order[rng.below(static_cast<uint64_t>(i + 1))]);
  return order;
}

int64_t global_batches(int64_t n, int64_t global_batch, bool drop_last) {
  return drop_last ? n / global_batch : (n + global_batch - 1) / global_batch;
}

Shard shard_epoch(int64_t n, uint64_t seed, int64_t epoch, int64_t skip, int rank, int world, int64_t local_batch,
                  bool drop_last) {
  CHECK(world >= 1 && rank >= 0 && rank < world && local_batch >= 1 && skip >= 0, "shard_epoch: rank ", rank,
        " of ", world, ", batch ", local_batch, ", skip ", skip);
  const std::vector<int64_t> order = epoch_order(n, seed, epoch);
  const int64_t global = local_batch * world;
  Shard s;
  for (int64_t start = std::min(skip, n); start < n; start += global) {
    const int64_t L = std::min(global, n - start);
    if (L < global && drop_last) break;
    int64_t first, count;
    if (L == global) {
      first = start + rank * local_batch, count = local_batch;
    } else {  // split evenly: ranks below L % world get one more
      const int64_t q = L / world, r = L % world;
      first = start + rank * q + std::min<int64_t>(rank, r), count = q + (rank < r ? 1 : 0);
    }
    s.indices.insert(s.indices.end(), order.begin() + first, order.begin() + first + count);
    s.local_sizes.push_back(count);
    s.global_sizes.push_back(L);
  }
  return s;
}

Dataset gather(const Dataset& data, const std::vector<int64_t>& indices) {
  Dataset out = data;  // names and any other per-set fields; images and labels replaced below
  Shape shape = data.images.shape();
  shape[0] = static_cast<int64_t>(indices.size());
  out.images = Tensor::empty(shape, DType::u8);
  out.labels = Tensor::empty({shape[0]}, DType::i64);
  const int64_t per = data.images.numel() / std::max<int64_t>(data.size(), 1);
  const uint8_t* src = data.images.data<uint8_t>();
  const int64_t* y = data.labels.data<int64_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  int64_t* dy = out.labels.data<int64_t>();
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t i = indices[k];
    CHECK(i >= 0 && i < data.size(), "gather: index ", i, " of ", data.size());
    std::memcpy(dst + static_cast<int64_t>(k) * per, src + i * per, static_cast<size_t>(per));
    dy[k] = y[i];
  }
  return out;
}

}  // namespace cvtrain::dist
