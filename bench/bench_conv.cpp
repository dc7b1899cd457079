// The Fashion-MNIST CNN's convolutions at batch 128 (conv1 1->32 3x3 pad 1 on 28x28, conv2 32->64
// 3x3 pad 1 on 14x14, both without bias as BN follows), each direction with each kernel choice of
// cpu::conv2d_*: automatic (the library's), plain (NCHW, oneDNN's gemm kernels), blocked (nChw16c,
// oneDNN's direct jit kernels) and winograd (blocked), reorders included. The label names the kernel.
// PyTorch's figures for the same shapes: /usr/bin/python3 bench/conv_shapes_torch.py
// Run: OMP_NUM_THREADS=2 build/bench/bench_conv --benchmark_repetitions=6 --benchmark_enable_random_interleaving=true
//      --benchmark_report_aggregates_only=true   and read the _min rows (the machine is shared).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/backend/cpu/conv.h"
#include "cvtrain/tensor/dtype.h"
#include "cvtrain/tensor/rng.h"

namespace {

using cvtrain::cpu::ConvImpl;

// 1, 2: the CNN's conv1 and conv2; 3, 4, 5: ResNet-20's 3x3 stage convolutions (16 channels on
// 28x28, 32 on 14x14, 64 on 7x7)
cvtrain::Conv2dShape shape_of(int64_t which) {
  if (which == 1) return cvtrain::make_conv2d_shape(128, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  if (which == 3) return cvtrain::make_conv2d_shape(128, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  if (which == 4) return cvtrain::make_conv2d_shape(128, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  if (which == 5) return cvtrain::make_conv2d_shape(128, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  return cvtrain::make_conv2d_shape(128, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1);
}

std::vector<float> random_vector(int64_t n, uint64_t seed) {
  cvtrain::Rng rng(seed);
  std::vector<float> v(n);
  for (float& e : v) e = rng.uniform() - 0.5f;
  return v;
}

// args: conv (1 to 5), direction (0 forward, 1 backward-data, 2 backward-weights), ConvImpl, bf16 (0/1),
// channels-last activations (0/1), bf16 activation buffers (0/1: train.bf16_activations)
void BM_conv(benchmark::State& state) {
  cvtrain::Conv2dShape s = shape_of(state.range(0));
  s.channels_last = state.range(4) != 0;
  const bool act16 = state.range(5) != 0;
  s.x_bf16 = s.y_bf16 = act16;
  const int direction = static_cast<int>(state.range(1));
  const auto impl = static_cast<ConvImpl>(state.range(2));
  std::vector<float> x = random_vector(s.N * s.C * s.H * s.W, 1), dx(x.size());
  std::vector<float> w = random_vector(s.OC * (s.C / s.groups) * s.KH * s.KW, 2), dw(w.size());
  std::vector<float> dy = random_vector(s.N * s.OC * s.OH * s.OW, 3), y(dy.size());
  // bf16 activations: the same values rounded, in buffers of half the size
  auto bf16_of = [](const std::vector<float>& v) {
    std::vector<cvtrain::bf16> o(v.size());
    for (size_t i = 0; i < v.size(); ++i) o[i] = cvtrain::float_to_bf16(v[i]);
    return o;
  };
  std::vector<cvtrain::bf16> xb = bf16_of(x), dxb(x.size()), dyb = bf16_of(dy), yb(dy.size());
  void *px = act16 ? static_cast<void*>(xb.data()) : x.data(), *pdx = act16 ? static_cast<void*>(dxb.data()) : dx.data();
  void *py = act16 ? static_cast<void*>(yb.data()) : y.data(), *pdy = act16 ? static_cast<void*>(dyb.data()) : dy.data();
  cvtrain::Context ctx;
  ctx.dnnl.set_bf16(state.range(3) != 0);
  for (auto _ : state) {
    if (direction == 0)
      cvtrain::cpu::conv2d_forward(ctx.dnnl, px, w.data(), nullptr, py, s, impl);
    else if (direction == 1)
      cvtrain::cpu::conv2d_backward_data(ctx.dnnl, w.data(), pdy, pdx, s, impl);
    else
      cvtrain::cpu::conv2d_backward_weights(ctx.dnnl, px, pdy, dw.data(), nullptr, s, impl);
  }
  const cvtrain::cpu::Conv2dImplInfo info = cvtrain::cpu::conv2d_impl_info(ctx.dnnl, s, false, impl);
  const char* kernel = direction == 0 ? info.forward : direction == 1 ? info.backward_data : info.backward_weights;
  const bool plain = direction == 0 ? info.forward_plain
                     : direction == 1 ? info.backward_data_plain
                                      : info.backward_weights_plain;
  static constexpr const char* names[] = {"auto", "plain", "blocked", "winograd", "nhwc"};
  const char* impl_name = names[state.range(2)];
  state.SetLabel(std::string(state.range(4) ? "cl " : "") + (state.range(3) ? "bf16 " : "") + (act16 ? "act16 " : "") + (direction == 0 ? "fwd " : direction == 1 ? "bwd_data " : "bwd_weights ") + impl_name +
                 " " + kernel + (plain ? " (no reorder)" : " (reordered)"));
}

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void cases(benchmark::internal::Benchmark* b) {
  for (int64_t conv : {1, 2})
    for (int64_t direction : {0, 1, 2})
      for (ConvImpl impl : {ConvImpl::automatic, ConvImpl::plain, ConvImpl::blocked, ConvImpl::winograd})
        b->Args({conv, direction, static_cast<int64_t>(impl), 0, 0, 0});
  // f32 against bf16 (mixed precision) with the automatic choice, on every shape
  for (int64_t conv : {1, 2, 3, 4, 5})
    for (int64_t direction : {0, 1, 2})
      for (int64_t bf16 : {0, 1}) b->Args({conv, direction, 0, bf16, 0, 0});
  // channels-last activations: direct on NHWC against blocked and Winograd with reorders from NHWC,
  // against the NCHW automatic choice
  for (int64_t conv : {1, 2, 3, 4, 5})
    for (int64_t direction : {0, 1, 2})
      for (int64_t bf16 : {0, 1})
        for (ConvImpl impl : {ConvImpl::nhwc, ConvImpl::blocked, ConvImpl::winograd})
          b->Args({conv, direction, static_cast<int64_t>(impl), bf16, 1, 0});
  // bf16 activations (channels-last): direct on NHWC bf16 against blocked (reorders except at 16 channels)
  for (int64_t conv : {2, 3, 4, 5})
    for (int64_t direction : {0, 1, 2})
      for (ConvImpl impl : {ConvImpl::automatic, ConvImpl::nhwc, ConvImpl::blocked})
        b->Args({conv, direction, static_cast<int64_t>(impl), 1, 1, 1});
}

}  // namespace

// "min" alongside mean/median: the machine is shared, and the best repetition is the least disturbed
BENCHMARK(BM_conv)->Apply(cases)->ArgNames({"conv", "dir", "impl", "bf16", "cl", "act16"})->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("min", min_of);

BENCHMARK_MAIN();
