// The collectives of a data-parallel step. Each rank weights its loss by its share of the global
// batch (trainer.cpp), so the summed gradients are the mean over the global batch, the gradient
// one process would compute for it.
#include "cvtrain/dist/data_parallel.h"

#include <algorithm>
#include <cstring>

namespace cvtrain::dist {

namespace {
// An f32 buffer to every rank from `root`; through a host copy when it lives on the GPU.
void broadcast_buffer(Communicator& comm, Tensor& t, const char* what) {
  if (!t.is_cuda()) return comm.broadcast(t.data<float>(), t.numel(), 0, what);
  Tensor host = t.to_cpu();
  comm.broadcast(host.data<float>(), host.numel(), 0, what);
  t.copy_(host);
}
}  // namespace

void broadcast_model(Communicator& comm, nn::Module& model, nn::ParameterArena& arena) {
  if (comm.size() == 1) return;
  arena.sync_to_host();  // device: cuda: through the host mirror
  comm.broadcast(arena.data(), arena.size(), 0, "the initial weights");
  arena.sync_to_device();
  for (auto& [name, t] : model.named_buffers())
    if (t->dtype() == DType::f32) broadcast_buffer(comm, *t, "the initial buffers");
}

BatchTotals reduce_batch(Communicator& comm, int64_t images, double loss, int64_t correct, bool nonfinite) {
  return sum_totals(comm, {static_cast<double>(images), nonfinite ? 0.0 : loss * static_cast<double>(images),
                           static_cast<double>(correct), nonfinite ? 1.0 : 0.0});
}

BatchTotals sum_totals(Communicator& comm, BatchTotals mine) {
  double v[4] = {mine.images, mine.loss_sum, mine.correct, mine.nonfinite};
  comm.allreduce_sum(v, 4, "the batch totals");
  return {v[0], v[1], v[2], v[3]};
}

std::vector<GradBucket> make_grad_buckets(const nn::ParameterArena& arena, int64_t bucket_floats) {
  std::vector<GradBucket> out;
  const auto& e = arena.entries();
  int64_t end = arena.size();
  for (size_t i = e.size(); i-- > 0;) {
    if (end - e[i].offset >= bucket_floats || i == 0) {
      out.push_back({i == 0 ? 0 : e[i].offset, end, 0});
      end = out.back().begin;
    }
  }
  if (out.empty() && arena.size() > 0) out.push_back({0, arena.size(), 0});
  return out;
}

GradientAllreduce::GradientAllreduce(Communicator& comm, nn::Module& model, const nn::ParameterArena& arena,
                                     int64_t bucket_floats)
    : comm_(comm), arena_(arena), buckets_(make_grad_buckets(arena, bucket_floats)) {
  const auto& e = arena.entries();
  auto params = model.named_parameters();
  CHECK(params.size() == e.size(), "GradientAllreduce: the model has ", params.size(), " parameters, the arena ",
        e.size());
  bucket_of_.resize(e.size());
  for (size_t i = 0; i < e.size(); ++i) {
    entry_of_[params[i].second->impl().get()] = static_cast<int>(i);
    for (size_t b = 0; b < buckets_.size(); ++b)
      if (e[i].offset >= buckets_[b].begin && e[i].offset < buckets_[b].end) bucket_of_[i] = static_cast<int>(b);
  }
  reset();
}

void GradientAllreduce::reset() {
  for (GradBucket& b : buckets_) b.pending = 0;
  for (int b : bucket_of_) ++buckets_[static_cast<size_t>(b)].pending;
  next_ = 0;
}

GradReadyFn GradientAllreduce::hook() {
  return [this](const VarImpl& leaf) { on_ready(leaf); };
}

void GradientAllreduce::on_ready(const VarImpl& leaf) {
  auto it = entry_of_.find(&leaf);
  if (it == entry_of_.end()) return;  // a leaf that is not a parameter (an input that requires grad)
  --buckets_[static_cast<size_t>(bucket_of_[static_cast<size_t>(it->second)])].pending;
  for (; next_ < buckets_.size() && buckets_[next_].pending == 0; ++next_, ++started_in_backward_)
    comm_.start_allreduce_sum(arena_.grad() + buckets_[next_].begin, buckets_[next_].end - buckets_[next_].begin,
                              "the gradient all-reduce");
  comm_.progress();  // let the started buckets move while the backward goes on
}

void GradientAllreduce::finish() {
  for (; next_ < buckets_.size(); ++next_)  // parameters the backward did not reach, or no overlap
    comm_.start_allreduce_sum(arena_.grad() + buckets_[next_].begin, buckets_[next_].end - buckets_[next_].begin,
                              "the gradient all-reduce");
  comm_.wait_started("the gradient all-reduce");
  reset();
}

void average_spans(Communicator& comm, const std::vector<FloatSpan>& spans, std::vector<float>& scratch) {
  int64_t total = 0;
  for (const FloatSpan& s : spans) total += s.size;
  scratch.resize(static_cast<size_t>(total));
  float* at = scratch.data();
  for (const FloatSpan& s : spans) at = std::copy(s.data, s.data + s.size, at);
  comm.allreduce_sum(scratch.data(), total, "the weight average (train.dist_local_sgd)");
  const float inv = 1.0f / static_cast<float>(comm.size());
  const float* from = scratch.data();
  for (const FloatSpan& s : spans)
    for (int64_t i = 0; i < s.size; ++i) s.data[i] = *from++ * inv;
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

bool sync_model(Communicator& comm, nn::Module& model, nn::ParameterArena& arena) {
  if (comm.size() == 1) return false;
  arena.sync_to_host();  // device: cuda: the checksum and the broadcast read the host mirror
  const bool differ = !same_weights_everywhere(comm, arena);
  if (differ) comm.broadcast(arena.data(), arena.size(), 0, "the weights"), arena.sync_to_device();
  for (auto& [name, t] : model.named_buffers())
    if (t->dtype() == DType::f32) broadcast_buffer(comm, *t, "the batch-norm statistics");
  return differ;
}

}  // namespace cvtrain::dist
