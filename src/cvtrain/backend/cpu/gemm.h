// Matrix products for matmul and linear on row-major f32 buffers, through oneDNN's matmul primitive
// (cached per shape in the DnnlRuntime; chosen over dnnl_sgemm and OpenBLAS by bench/bench_gemm.cpp,
// figures in gemm.cpp). With DnnlRuntime::bf16() on, the matmul primitive reads bf16 copies of A
// and B and accumulates and writes f32 (the dnnl_sgemm path stays f32). No autograd here; reference
// twin: backend/ref/gemm.h.
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/dnnl_runtime.h"

namespace cvtrain::cpu {

// C: (M,N) = alpha * op(A) op(B) + beta * C, row-major with leading dimensions lda/ldb/ldc.
// op(A): (M,K) is A: (M,K), or A: (K,M) transposed when trans_a; likewise op(B): (K,N).
// beta == 0 overwrites C without reading it. alpha 1 and beta 0 (what the ops use) run the cached
// matmul primitive; other values go through dnnl_sgemm.
void gemm(DnnlRuntime& rt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// x: (N,IN), w: (OUT,IN), b: (OUT) or null -> y: (N,OUT) = x w^T + b
void linear_forward(DnnlRuntime& rt, const float* x, const float* w, const float* b, float* y, int64_t N, int64_t IN,
                    int64_t OUT);
// dy: (N,OUT), w: (OUT,IN) -> dx: (N,IN) = dy w
void linear_backward_data(DnnlRuntime& rt, const float* dy, const float* w, float* dx, int64_t N, int64_t IN,
                          int64_t OUT);
// x: (N,IN), dy: (N,OUT) -> dw: (OUT,IN) = dy^T x, db: (OUT) column sums of dy, or null
void linear_backward_weights(DnnlRuntime& rt, const float* x, const float* dy, float* dw, float* db, int64_t N,
                             int64_t IN, int64_t OUT);
// dy: (N,OUT) -> db: (OUT), db[o] = sum over n of dy[n,o], added in n order whatever the thread count.
void bias_backward(const float* dy, float* db, int64_t N, int64_t OUT);

}  // namespace cvtrain::cpu
