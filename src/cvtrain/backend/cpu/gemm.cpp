// Matrix products on oneDNN. The plain product (alpha 1, beta 0) and linear's forward with its bias
// run oneDNN's matmul primitive, created once per shape and cached; other alpha/beta go to sgemm.
// NOTE: measured with bench/bench_gemm.cpp (AMD EPYC Zen 5, 2 threads, batch 128; GFLOP/s for the
// MLP's 784->512 forward / backward-data / backward-weights): matmul primitive 465 / 499 / 494,
// dnnl_sgemm 395 / 487 / 469 (its x W^T forward is the slow case: 512->256 307 vs 463), OpenBLAS
// 0.3.21 cblas_sgemm 229 / 234 / 239 (and ~2.5x slower than oneDNN on the 128x10 heads).
#include "cvtrain/backend/cpu/gemm.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "cvtrain/backend/cpu/dnnl_state.h"
#include "cvtrain/base/error.h"

namespace cvtrain::cpu {
namespace {

using dnnl::memory;

// A matmul primitive for one shape, its memory objects re-bound to the caller's buffers per call.
// In bf16 (mixed precision) the primitive reads bf16 copies of A and B, owned by the entry and
// filled by the two reorders on each call; C stays f32.
struct Matmul {
  dnnl::matmul primitive;
  memory a, b, bias, c, scratchpad;
  bool low = false;
  memory a_low, b_low;
  dnnl::reorder to_a_low, to_b_low;
  std::unordered_map<int, memory> args;
};

// op(A): (M,K) over A stored (M,K) with row stride lda, or stored (K,M) when transposed: a transpose
// is only a choice of strides.
memory::desc matrix_desc(int64_t rows, int64_t cols, bool trans, int64_t ld) {
  return memory::desc({rows, cols}, memory::data_type::f32, trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}

Matmul& matmul_entry(DnnlState& st, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                     int64_t ldb, int64_t ldc, bool bias, bool low) {
  std::string key = low ? "matmul bf16" : "matmul";
  for (int64_t v : {int64_t(trans_a), int64_t(trans_b), M, N, K, lda, ldb, ldc, int64_t(bias)})
    key += ' ' + std::to_string(v);
  return st.cached<Matmul>(key, [&] {
    const memory::desc a_md = matrix_desc(M, K, trans_a, lda), b_md = matrix_desc(K, N, trans_b, ldb);
    const memory::desc c_md = matrix_desc(M, N, false, ldc);
    const memory::desc bias_md = bias ? matrix_desc(1, N, false, N) : memory::desc();
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    Matmul m;
    m.low = low;
    m.a = memory(a_md, st.engine, DNNL_MEMORY_NONE);
    m.b = memory(b_md, st.engine, DNNL_MEMORY_NONE);
    m.c = memory(c_md, st.engine, DNNL_MEMORY_NONE);
    memory::desc a_in = a_md, b_in = b_md;
    if (low) {
      // the bf16 copies keep the operand's orientation (a transposed operand stays transposed, "ba"):
      // the conversion is then a straight pass, not a transpose (CNN fc1's 3136x128 weights, 1
      // thread: 0.32 ms per forward as a transposing reorder); matmul reads either layout
      using tag = memory::format_tag;
      a_in = memory::desc({M, K}, memory::data_type::bf16, trans_a ? tag::ba : tag::ab);
      b_in = memory::desc({K, N}, memory::data_type::bf16, trans_b ? tag::ba : tag::ab);
      m.a_low = memory(a_in, st.engine);  // owned by the entry, allocated once
      m.b_low = memory(b_in, st.engine);
      m.to_a_low = dnnl::reorder(m.a, m.a_low);
      m.to_b_low = dnnl::reorder(m.b, m.b_low);
    }
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_in, b_in, bias_md, c_md), attr, st.engine);
    m.primitive = dnnl::matmul(pd);
    m.args = {{DNNL_ARG_SRC, low ? m.a_low : m.a}, {DNNL_ARG_WEIGHTS, low ? m.b_low : m.b}, {DNNL_ARG_DST, m.c}};
    if (bias) {
      m.bias = memory(bias_md, st.engine, DNNL_MEMORY_NONE);
      m.args[DNNL_ARG_BIAS] = m.bias;
    }
    if (pd.scratchpad_desc().get_size() > 0) {
      m.scratchpad = memory(pd.scratchpad_desc(), st.engine);  // owned by the entry, allocated once
      m.args[DNNL_ARG_SCRATCHPAD] = m.scratchpad;
    }
    return m;
  });
}

// C = op(A) op(B) (+ bias broadcast over the rows), on the cached primitive.
void run_matmul(DnnlRuntime& rt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                int64_t lda, const float* B, int64_t ldb, const float* bias, float* C, int64_t ldc) {
  try {
    DnnlState& st = rt.state();
    Matmul& m = matmul_entry(st, trans_a, trans_b, M, N, K, lda, ldb, ldc, bias != nullptr, rt.bf16());
    m.a.set_data_handle(const_cast<float*>(A));  // inputs are only read
    m.b.set_data_handle(const_cast<float*>(B));
    if (bias) m.bias.set_data_handle(const_cast<float*>(bias));
    m.c.set_data_handle(C);
    if (m.low) {
      m.to_a_low.execute(st.stream, m.a, m.a_low);
      m.to_b_low.execute(st.stream, m.b, m.b_low);
    }
    m.primitive.execute(st.stream, m.args);
    st.stream.wait();
  } catch (const dnnl::error& e) {
    throw Error(detail::concat("gemm: oneDNN matmul failed (", e.what(), ") for M=", M, " N=", N, " K=", K,
                               " trans_a=", trans_a, " trans_b=", trans_b, " lda=", lda, " ldb=", ldb, " ldc=", ldc));
  }
}

}  // namespace

void gemm(DnnlRuntime& rt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: C = beta C (the kernels below would not touch C)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  if (alpha == 1.0f && beta == 0.0f) {
    run_matmul(rt, trans_a, trans_b, M, N, K, A, lda, B, ldb, nullptr, C, ldc);
    return;
  }
  dnnl::status st = dnnl::sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  CHECK(st == dnnl::status::success, "gemm: dnnl_sgemm failed (status ", static_cast<int>(st), ") for M=", M,
        " N=", N, " K=", K);
}

void linear_forward(DnnlRuntime& rt, const float* x, const float* w, const float* b, float* y, int64_t N, int64_t IN,
                    int64_t OUT) {
  if (N == 0 || OUT == 0) return;
  if (IN == 0) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < OUT; ++o) y[n * OUT + o] = b ? b[o] : 0.0f;
    return;
  }
  run_matmul(rt, false, true, N, OUT, IN, x, IN, w, IN, b, y, OUT);
}

void linear_backward_data(DnnlRuntime& rt, const float* dy, const float* w, float* dx, int64_t N, int64_t IN,
                          int64_t OUT) {
  gemm(rt, false, false, N, IN, OUT, 1.0f, dy, OUT, w, IN, 0.0f, dx, IN);
}

void linear_backward_weights(DnnlRuntime& rt, const float* x, const float* dy, float* dw, float* db, int64_t N,
                             int64_t IN, int64_t OUT) {
  gemm(rt, true, false, OUT, IN, N, 1.0f, dy, OUT, x, IN, 0.0f, dw, IN);
  if (db) bias_backward(dy, db, N, OUT);
}

void bias_backward(const float* dy, float* db, int64_t N, int64_t OUT) {
  // Column blocks per thread: each column's sum runs over n in order, so the result does not
  // depend on the thread count; within a block the inner loop over columns vectorizes.
  constexpr int64_t block = 64;
  const int64_t blocks = (OUT + block - 1) / block;
#pragma omp parallel for if (N * OUT > 65536)
  for (int64_t bi = 0; bi < blocks; ++bi) {
    const int64_t lo = bi * block, hi = std::min(OUT, lo + block);
    std::fill(db + lo, db + hi, 0.0f);
    for (int64_t n = 0; n < N; ++n) {
      const float* row = dy + n * OUT;
#pragma omp simd
      for (int64_t o = lo; o < hi; ++o) db[o] += row[o];
    }
  }
}

}  // namespace cvtrain::cpu
