// Fast broadcasting binary kernels. One driver walks the output in rows of its innermost (collapsed)
// dimension and hands each element's offsets to a per-op lambda; the row loop is specialised for
// unit and zero strides so those rows vectorize. Work is split by output range: deterministic.
#include "cvtrain/backend/cpu/binary.h"

#include <algorithm>
#include <vector>

namespace cvtrain::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;  // elements; below this one thread is faster
constexpr int64_t kChunk = 1 << 14;         // longest piece of a row one task takes

struct Add {
  static float f(float a, float b) { return a + b; }
  static float da(float, float, float g) { return g; }
  static float db(float, float, float g) { return g; }
};
struct Sub {
  static float f(float a, float b) { return a - b; }
  static float da(float, float, float g) { return g; }
  static float db(float, float, float g) { return -g; }
};
struct Mul {
  static float f(float a, float b) { return a * b; }
  static float da(float, float b, float g) { return g * b; }
  static float db(float a, float, float g) { return g * a; }
};
struct Div {
  static float f(float a, float b) { return a / b; }
  static float da(float, float b, float g) { return g / b; }
  static float db(float a, float b, float g) { return -g * a / (b * b); }
};

bool is_packed(const int64_t* strides, const int64_t* shape, int64_t ndim) {
  int64_t expected = 1;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

bool is_scalar(const int64_t* strides, const int64_t* shape, int64_t ndim) {
  for (int64_t d = 0; d < ndim; ++d)
    if (shape[d] != 1 && strides[d] != 0) return false;
  return true;
}

// f(i, ia, ib) for i in [i0, i0+n): a at ia0 + k*sa, b at ib0 + k*sb. Unit and zero strides get
// their own loops so the index arithmetic is visible to the vectorizer.
template <class F>
inline void row_loop(int64_t i0, int64_t ia0, int64_t sa, int64_t ib0, int64_t sb, int64_t n, F& f) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) f(i0 + k, ia0 + k, ib0 + k);
  } else if (sa == 1 && sb == 0) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) f(i0 + k, ia0 + k, ib0);
  } else if (sa == 0 && sb == 1) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) f(i0 + k, ia0, ib0 + k);
  } else if (sa == 0 && sb == 0) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) f(i0 + k, ia0, ib0);
  } else {
    for (int64_t k = 0; k < n; ++k) f(i0 + k, ia0 + k * sa, ib0 + k * sb);
  }
}

// The output shape with size-1 dimensions dropped and neighbours merged where both operands step
// through them as through one dimension.
struct Collapsed {
  std::vector<int64_t> shape, sa, sb;
};

Collapsed collapse(const int64_t* shape, int64_t ndim, const int64_t* sa, const int64_t* sb) {
  Collapsed c;
  for (int64_t d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (!c.shape.empty() && c.sa.back() == sa[d] * shape[d] && c.sb.back() == sb[d] * shape[d]) {
      c.shape.back() *= shape[d];
      c.sa.back() = sa[d];
      c.sb.back() = sb[d];
    } else {
      c.shape.push_back(shape[d]);
      c.sa.push_back(sa[d]);
      c.sb.push_back(sb[d]);
    }
  }
  if (c.shape.empty()) c.shape = {1}, c.sa = {0}, c.sb = {0};
  return c;
}

// Calls f(i, ia, ib) once for every output element i with the operands' element offsets.
template <class F>
void for_each_broadcast(const int64_t* shape, int64_t ndim, const int64_t* sa, const int64_t* sb, F f) {
  int64_t numel = 1;
  for (int64_t d = 0; d < ndim; ++d) numel *= shape[d];
  if (numel == 0) return;
  const bool par = numel > kParallelMin;
  const bool a_packed = is_packed(sa, shape, ndim), b_packed = is_packed(sb, shape, ndim);
  const bool a_scalar = is_scalar(sa, shape, ndim), b_scalar = is_scalar(sb, shape, ndim);
  if ((a_packed || a_scalar) && (b_packed || b_scalar)) {  // fast paths: same-shape packed, scalar operand
    const int64_t sa1 = a_packed ? 1 : 0, sb1 = b_packed ? 1 : 0;
    const int64_t chunks = (numel + kChunk - 1) / kChunk;
#pragma omp parallel for if (par)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t lo = c * kChunk, n = std::min(kChunk, numel - lo);
      row_loop(lo, lo * sa1, sa1, lo * sb1, sb1, n, f);
    }
    return;
  }
  // General strided N-d path: rows of the innermost collapsed dimension, long rows in pieces.
  const Collapsed c = collapse(shape, ndim, sa, sb);
  const int64_t nd = static_cast<int64_t>(c.shape.size());
  const int64_t row = c.shape[nd - 1], rows = numel / row;
  const int64_t pieces = (row + kChunk - 1) / kChunk;
#pragma omp parallel for if (par)
  for (int64_t t = 0; t < rows * pieces; ++t) {
    const int64_t r = t / pieces, lo = (t % pieces) * kChunk, n = std::min(kChunk, row - lo);
    int64_t ia = 0, ib = 0, rem = r;
    for (int64_t d = nd - 2; d >= 0; --d) {
      const int64_t i = rem % c.shape[d];
      rem /= c.shape[d];
      ia += i * c.sa[d];
      ib += i * c.sb[d];
    }
    row_loop(r * row + lo, ia + lo * c.sa[nd - 1], c.sa[nd - 1], ib + lo * c.sb[nd - 1], c.sb[nd - 1], n, f);
  }
}

template <class Op>
void forward_impl(const float* a, const int64_t* sa, const float* b, const int64_t* sb, float* out,
                  const int64_t* shape, int64_t ndim) {
  for_each_broadcast(shape, ndim, sa, sb,
                     [=](int64_t i, int64_t ia, int64_t ib) { out[i] = Op::f(a[ia], b[ib]); });
}

template <class Op>
void backward_impl(const float* a, const int64_t* sa, const float* b, const int64_t* sb, const float* g,
                   float* da, float* db, const int64_t* shape, int64_t ndim) {
  if (da && db) {
    for_each_broadcast(shape, ndim, sa, sb, [=](int64_t i, int64_t ia, int64_t ib) {
      da[i] = Op::da(a[ia], b[ib], g[i]);
      db[i] = Op::db(a[ia], b[ib], g[i]);
    });
  } else if (da) {
    for_each_broadcast(shape, ndim, sa, sb,
                       [=](int64_t i, int64_t ia, int64_t ib) { da[i] = Op::da(a[ia], b[ib], g[i]); });
  } else if (db) {
    for_each_broadcast(shape, ndim, sa, sb,
                       [=](int64_t i, int64_t ia, int64_t ib) { db[i] = Op::db(a[ia], b[ib], g[i]); });
  }
}

}  // namespace

void binary_forward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                    const int64_t* b_strides, float* out, const int64_t* shape, int64_t ndim) {
  switch (op) {
    case BinaryOp::add: return forward_impl<Add>(a, a_strides, b, b_strides, out, shape, ndim);
    case BinaryOp::sub: return forward_impl<Sub>(a, a_strides, b, b_strides, out, shape, ndim);
    case BinaryOp::mul: return forward_impl<Mul>(a, a_strides, b, b_strides, out, shape, ndim);
    case BinaryOp::div: return forward_impl<Div>(a, a_strides, b, b_strides, out, shape, ndim);
  }
}

void binary_backward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                     const int64_t* b_strides, const float* dout, float* da_full, float* db_full,
                     const int64_t* shape, int64_t ndim) {
  switch (op) {
    case BinaryOp::add: return backward_impl<Add>(a, a_strides, b, b_strides, dout, da_full, db_full, shape, ndim);
    case BinaryOp::sub: return backward_impl<Sub>(a, a_strides, b, b_strides, dout, da_full, db_full, shape, ndim);
    case BinaryOp::mul: return backward_impl<Mul>(a, a_strides, b, b_strides, dout, da_full, db_full, shape, ndim);
    case BinaryOp::div: return backward_impl<Div>(a, a_strides, b, b_strides, dout, da_full, db_full, shape, ndim);
  }
}

void add_bf16(const bf16* a, const bf16* b, bf16* out, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) out[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
  }
}

}  // namespace cvtrain::cpu
