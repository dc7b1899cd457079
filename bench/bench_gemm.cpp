// The matrix products of linear layers at batch 128 (the MLP 784-512-256-10 and the CNN's
// 3136-128-10): forward y = x W^T, backward dx = dy W and dW = dy^T x, through
//   cvtrain   cpu::gemm as the library runs it (oneDNN's matmul primitive, cached per shape),
//   sgemm     oneDNN's dnnl_sgemm,
//   openblas  cblas_sgemm (only when built with -DCVTRAIN_BENCH_OPENBLAS and linked to OpenBLAS).
// Run: OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 build/bench/bench_gemm --benchmark_repetitions=6
//      --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// and read the _max rows' GFLOP/s (the best repetition; the machine is shared). Run the OpenBLAS cases alone
// (--benchmark_filter=BM_openblas): OpenMP's spinning threads from the oneDNN cases slow its pthreads.
#include <benchmark/benchmark.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "cvtrain/autograd/context.h"
#include "cvtrain/backend/cpu/gemm.h"
#include "cvtrain/tensor/rng.h"

#ifdef CVTRAIN_BENCH_OPENBLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <string>
#include <vector>

namespace {

// One product C: (M,N) = op(A) op(B) of a linear layer with `batch` rows, IN inputs, OUT outputs.
struct Product {
  bool trans_a, trans_b;
  int64_t M, N, K;
};

// which: 0 forward y = x W^T, 1 backward-data dx = dy W, 2 backward-weights dW = dy^T x
Product product(int which, int64_t batch, int64_t in, int64_t out) {
  if (which == 0) return {false, true, batch, out, in};
  if (which == 1) return {false, false, batch, in, out};
  return {true, false, out, in, batch};
}

struct Buffers {
  std::vector<float> a, b, c;
  int64_t lda, ldb, ldc;
  explicit Buffers(const Product& p) {
    cvtrain::Rng rng(1);
    a.resize(p.M * p.K);
    b.resize(p.K * p.N);
    c.resize(p.M * p.N);
    for (float& v : a) v = rng.uniform() - 0.5f;
    for (float& v : b) v = rng.uniform() - 0.5f;
    lda = p.trans_a ? p.M : p.K;
    ldb = p.trans_b ? p.K : p.N;
    ldc = p.N;
  }
};

Product product_of(const benchmark::State& state) {
  return product(static_cast<int>(state.range(0)), 128, state.range(1), state.range(2));
}

void set_counters(benchmark::State& state, const Product& p) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * p.M * p.N * p.K, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(state.range(0) == 0 ? "fwd" : state.range(0) == 1 ? "bwd_data" : "bwd_weights");
}

void BM_cvtrain(benchmark::State& state) {
  const Product p = product_of(state);
  Buffers m(p);
  cvtrain::Context ctx;
  for (auto _ : state) {
    cvtrain::cpu::gemm(ctx.dnnl, p.trans_a, p.trans_b, p.M, p.N, p.K, 1.0f, m.a.data(), m.lda, m.b.data(), m.ldb,
                       0.0f, m.c.data(), m.ldc);
    benchmark::DoNotOptimize(m.c.data());
  }
  set_counters(state, p);
}

void BM_sgemm(benchmark::State& state) {
  const Product p = product_of(state);
  Buffers m(p);
  for (auto _ : state) {
    dnnl::sgemm(p.trans_a ? 'T' : 'N', p.trans_b ? 'T' : 'N', p.M, p.N, p.K, 1.0f, m.a.data(), m.lda, m.b.data(),
                m.ldb, 0.0f, m.c.data(), m.ldc);
    benchmark::DoNotOptimize(m.c.data());
  }
  set_counters(state, p);
}

#ifdef CVTRAIN_BENCH_OPENBLAS
void BM_openblas(benchmark::State& state) {
  const Product p = product_of(state);
  Buffers m(p);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans, p.trans_b ? CblasTrans : CblasNoTrans, p.M, p.N,
                p.K, 1.0f, m.a.data(), m.lda, m.b.data(), m.ldb, 0.0f, m.c.data(), m.ldc);
    benchmark::DoNotOptimize(m.c.data());
  }
  set_counters(state, p);
}
#endif

// (product, IN, OUT) for every layer of the MLP and the CNN head
void layer_shapes(benchmark::internal::Benchmark* b) {
  for (auto [in, out] : {std::pair<int64_t, int64_t>{784, 512}, {512, 256}, {256, 10}, {3136, 128}, {128, 10}})
    for (int which = 0; which < 3; ++which) b->Args({which, in, out});
}

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

}  // namespace

// "min" and "max" alongside mean/median: the machine is shared, and the best repetition is the least
// disturbed. Statistics apply to every column: the _min row holds the best time, the _max row the
// best GFLOP/s.
BENCHMARK(BM_cvtrain)
    ->Apply(layer_shapes)
    ->ArgNames({"prod", "in", "out"})
    ->ComputeStatistics("min", min_of)
    ->ComputeStatistics("max", max_of);
BENCHMARK(BM_sgemm)
    ->Apply(layer_shapes)
    ->ArgNames({"prod", "in", "out"})
    ->ComputeStatistics("min", min_of)
    ->ComputeStatistics("max", max_of);
#ifdef CVTRAIN_BENCH_OPENBLAS
BENCHMARK(BM_openblas)
    ->Apply(layer_shapes)
    ->ArgNames({"prod", "in", "out"})
    ->ComputeStatistics("min", min_of)
    ->ComputeStatistics("max", max_of);
#endif

BENCHMARK_MAIN();
