// The collectives of a data-parallel step. Each rank weights its loss by its share of the global
// batch (trainer.cpp), so the summed gradients are the mean over the global batch, the gradient
// one process would compute for it.
#include "cvtrain/dist/data_parallel.h"

#include <cstring>

namespace cvtrain::dist {

void broadcast_model(Communicator& comm, nn::Module& model, const nn::ParameterArena& arena) {
  if (comm.size() == 1) return;
  comm.broadcast(arena.data(), arena.size(), 0, "the initial weights");
  for (auto& [name, t] : model.named_buffers())
    if (t->dtype() == DType::f32) comm.broadcast(t->data<float>(), t->numel(), 0, "the initial buffers");
}

BatchTotals reduce_batch(Communicator& comm, int64_t images, double loss, int64_t correct, bool nonfinite) {
  double v[4] = {static_cast<double>(images), nonfinite ? 0.0 : loss * static_cast<double>(images),
                 static_cast<double>(correct), nonfinite ? 1.0 : 0.0};
  comm.allreduce_sum(v, 4, "the batch totals");
  return {v[0], v[1], v[2], v[3]};
}

void allreduce_gradients(Communicator& comm, const nn::ParameterArena& arena) {
  comm.allreduce_sum(arena.grad(), arena.size(), "the gradient all-reduce");
}

bool same_weights_everywhere(Communicator& comm, const nn::ParameterArena& arena) {
  uint64_t mine = 1469598103934665603ull;  // FNV-1a over the bits
  for (int64_t i = 0; i < arena.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, arena.data() + i, 4);
    mine = (mine ^ bits) * 1099511628211ull;
  }
  uint64_t root = mine;
  comm.broadcast(&root, 1, 0, "the weight checksum");
  double differ = root != mine ? 1.0 : 0.0;
  comm.allreduce_sum(&differ, 1, "the weight checksum");
  return differ == 0;
}

bool sync_model(Communicator& comm, nn::Module& model, const nn::ParameterArena& arena) {
  if (comm.size() == 1) return false;
  const bool differ = !same_weights_everywhere(comm, arena);
  if (differ) comm.broadcast(arena.data(), arena.size(), 0, "the weights");
  for (auto& [name, t] : model.named_buffers())
    if (t->dtype() == DType::f32) comm.broadcast(t->data<float>(), t->numel(), 0, "the batch-norm statistics");
  return differ;
}

}  // namespace cvtrain::dist
