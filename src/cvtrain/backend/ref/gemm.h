// Reference matrix product: the triple loop, templated on the scalar so tests can check the
// gradients of matmul and linear by finite differences in double. Not fast; the library runs
// backend/cpu/gemm.h, which tests hold against this.
#pragma once
#include <cstdint>

namespace cvtrain::ref {

// C: (M,N) = alpha * op(A) op(B) + beta * C, row-major with leading dimensions lda/ldb/ldc.
// op(A): (M,K) is A: (M,K), or A: (K,M) transposed when trans_a; likewise op(B): (K,N).
// beta == 0 overwrites C without reading it (NaN in C does not survive).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace cvtrain::ref
