// Fast reductions. sum_forward first collapses the shape into alternating kept/reduced groups and
// picks a loop for the layout: a whole-tensor sum (fixed chunks, partials added in order), column
// sums (one reduced group followed by kept ones), row sums, or per-output sums over reduced runs.
#include "cvtrain/backend/cpu/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cvtrain/backend/cpu/binary.h"

namespace cvtrain::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;  // elements
constexpr int64_t kChunk = 1 << 14;         // elements per partial sum of a whole-tensor sum
constexpr int64_t kBlock = 256;             // outputs per task for column sums and max over dim

struct Group {
  int64_t size, stride;  // stride of the group's innermost element in x
  bool reduced;
};

// Drops size-1 dims and merges neighbours with the same flag; x is packed so merging is always legal.
std::vector<Group> collapse(const int64_t* shape, const uint8_t* reduce, int64_t ndim) {
  std::vector<Group> g;
  int64_t stride = 1;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1) {
      const bool r = reduce[d] != 0;
      if (!g.empty() && g.back().reduced == r)
        g.back().size *= shape[d];
      else
        g.push_back({shape[d], stride, r});
    }
    stride *= shape[d];
  }
  std::reverse(g.begin(), g.end());
  return g;
}

// Sum of n floats `stride` apart. Unit stride: 16 running sums (one vector's lanes), added at the end;
// the order is written out, so the result does not depend on how the compiler vectorizes, and each
// running sum sees n/16 terms, which keeps the f32 rounding error small.
float sum_run(const float* x, int64_t n, int64_t stride) {
  if (stride != 1) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += x[i * stride];
    return s;
  }
  constexpr int64_t kLanes = 16;
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) lane[l] += x[i + l];
  }
  float s = 0.0f;
  for (int64_t l = 0; l < kLanes; ++l) s += lane[l];
  for (; i < n; ++i) s += x[i];
  return s;
}

void sum_all(const float* x, int64_t n, float scale, float* y) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks);
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) partial[c] = sum_run(x + c * kChunk, std::min(kChunk, n - c * kChunk), 1);
  double s = 0.0;
  for (double p : partial) s += p;
  *y = static_cast<float>(s * scale);
}

// x: (K1, R, K2) -> y: (K1, K2); tasks are (k1, block of K2), each adds R rows into its outputs.
void sum_columns(const float* x, int64_t k1n, int64_t rn, int64_t k2n, float scale, float* y) {
  const int64_t blocks = (k2n + kBlock - 1) / kBlock;
#pragma omp parallel for if (k1n * rn * k2n > kParallelMin)
  for (int64_t t = 0; t < k1n * blocks; ++t) {
    const int64_t k1 = t / blocks, lo = (t % blocks) * kBlock, m = std::min(kBlock, k2n - lo);
    float* out = y + k1 * k2n + lo;
    const float* src = x + k1 * rn * k2n + lo;
    std::fill_n(out, m, 0.0f);
    for (int64_t r = 0; r < rn; ++r) {
#pragma omp simd
      for (int64_t k = 0; k < m; ++k) out[k] += src[r * k2n + k];
    }
#pragma omp simd
    for (int64_t k = 0; k < m; ++k) out[k] *= scale;
  }
}

// Any layout: each output walks its reduced groups; the innermost reduced group is summed as a run.
void sum_general(const float* x, const std::vector<Group>& g, int64_t m, float scale, float* y) {
  std::vector<Group> kept, red;
  for (const Group& gr : g) (gr.reduced ? red : kept).push_back(gr);
  const Group inner = red.back();
  red.pop_back();
  int64_t runs = 1;
  for (const Group& gr : red) runs *= gr.size;
#pragma omp parallel for if (m * runs * inner.size > kParallelMin)
  for (int64_t j = 0; j < m; ++j) {
    int64_t base = 0, rem = j;
    for (int64_t d = static_cast<int64_t>(kept.size()) - 1; d >= 0; --d) {
      base += (rem % kept[d].size) * kept[d].stride;
      rem /= kept[d].size;
    }
    double acc = 0.0;
    for (int64_t q = 0; q < runs; ++q) {
      int64_t off = base;
      rem = q;
      for (int64_t d = static_cast<int64_t>(red.size()) - 1; d >= 0; --d) {
        off += (rem % red[d].size) * red[d].stride;
        rem /= red[d].size;
      }
      acc += sum_run(x + off, inner.size, inner.stride);
    }
    y[j] = static_cast<float>(acc * scale);
  }
}

}  // namespace

void sum_forward(const float* x, const int64_t* shape, const uint8_t* reduce, int64_t ndim, float scale, float* y) {
  int64_t numel = 1, m = 1;
  for (int64_t d = 0; d < ndim; ++d) {
    numel *= shape[d];
    if (!reduce[d]) m *= shape[d];
  }
  if (numel == 0) {  // an empty sum is zero
    std::fill_n(y, m, 0.0f);
    return;
  }
  const std::vector<Group> g = collapse(shape, reduce, ndim);
  const auto nred = std::count_if(g.begin(), g.end(), [](const Group& gr) { return gr.reduced; });
  if (nred == 0) {
#pragma omp parallel for simd if (numel > kParallelMin)
    for (int64_t i = 0; i < numel; ++i) y[i] = scale * x[i];
  } else if (g.size() == 1) {
    sum_all(x, numel, scale, y);
  } else if (g.size() == 2 && g.back().reduced) {  // (K, R): row sums
    const int64_t rows = g[0].size, rn = g[1].size;
#pragma omp parallel for if (numel > kParallelMin)
    for (int64_t j = 0; j < rows; ++j) y[j] = scale * sum_run(x + j * rn, rn, 1);
  } else if (nred == 1 && !g.back().reduced) {  // (R, K2) or (K1, R, K2)
    const bool lead = g.size() == 3;
    sum_columns(x, lead ? g[0].size : 1, g[lead ? 1 : 0].size, g.back().size, scale, y);
  } else {
    sum_general(x, g, m, scale, y);
  }
}

void sum_backward(const float* dy, const int64_t* shape, const uint8_t* reduce, int64_t ndim, float scale,
                  float* dx) {
  // dx = scale * dy broadcast back over the reduced dims: a binary broadcast with dy's strides.
  std::vector<int64_t> dy_strides(ndim, 0), zeros(ndim, 0);
  int64_t stride = 1;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    if (reduce[d]) continue;
    dy_strides[d] = stride;
    stride *= shape[d];
  }
  binary_forward(BinaryOp::mul, dy, dy_strides.data(), &scale, zeros.data(), dx, shape, ndim);
}

void max_forward(const float* x, int64_t outer, int64_t n, int64_t inner, float* y, int64_t* argmax) {
  if (inner == 1) {  // rows: the running maximum stays in a register
#pragma omp parallel for if (outer * n > kParallelMin)
    for (int64_t o = 0; o < outer; ++o) {
      const float* row = x + o * n;
      float best = row[0];
      int64_t arg = 0;
      for (int64_t i = 1; i < n; ++i)
        if (row[i] > best || (std::isnan(row[i]) && !std::isnan(best))) best = row[i], arg = i;
      y[o] = best, argmax[o] = arg;
    }
    return;
  }
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for if (outer * n * inner > kParallelMin)
  for (int64_t t = 0; t < outer * blocks; ++t) {
    const int64_t o = t / blocks, lo = (t % blocks) * kBlock, m = std::min(kBlock, inner - lo);
    const float* src = x + o * n * inner + lo;
    float* best = y + o * inner + lo;
    int64_t* arg = argmax + o * inner + lo;
    for (int64_t k = 0; k < m; ++k) best[k] = src[k], arg[k] = 0;
    for (int64_t i = 1; i < n; ++i)
      for (int64_t k = 0; k < m; ++k) {
        const float v = src[i * inner + k];
        if (v > best[k] || (std::isnan(v) && !std::isnan(best[k]))) best[k] = v, arg[k] = i;
      }
  }
}

void max_backward(const float* dy, const int64_t* argmax, int64_t outer, int64_t n, int64_t inner, float* dx) {
#pragma omp parallel for if (outer * n * inner > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    float* d = dx + o * n * inner;
    std::memset(d, 0, static_cast<size_t>(n * inner) * sizeof(float));
    for (int64_t k = 0; k < inner; ++k) d[argmax[o * inner + k] * inner + k] = dy[o * inner + k];
  }
}

}  // namespace cvtrain::cpu
