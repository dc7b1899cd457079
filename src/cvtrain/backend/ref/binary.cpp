// Reference broadcasting binary kernels: one odometer walk over the output, no fast paths.
#include "cvtrain/backend/ref/binary.h"

#include <vector>

namespace cvtrain::ref {

namespace {
// Calls f(i, ia, ib) for every output element i (row-major) with a's and b's element offsets.
template <class F>
void for_each_element(const int64_t* shape, int64_t ndim, const int64_t* sa, const int64_t* sb, F&& f) {
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  std::vector<int64_t> idx(ndim, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia = 0, ib = 0;
    for (int64_t d = 0; d < ndim; ++d) ia += idx[d] * sa[d], ib += idx[d] * sb[d];
    f(i, ia, ib);
    for (int64_t d = ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}
}  // namespace

template <class T>
void binary_forward(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides,
                    T* out, const int64_t* shape, int64_t ndim) {
  for_each_element(shape, ndim, a_strides, b_strides, [&](int64_t i, int64_t ia, int64_t ib) {
    switch (op) {
      case BinaryOp::add: out[i] = a[ia] + b[ib]; break;
      case BinaryOp::sub: out[i] = a[ia] - b[ib]; break;
      case BinaryOp::mul: out[i] = a[ia] * b[ib]; break;
      case BinaryOp::div: out[i] = a[ia] / b[ib]; break;
    }
  });
}

template <class T>
void binary_backward(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides,
                     const T* dout, T* da_full, T* db_full, const int64_t* shape, int64_t ndim) {
  for_each_element(shape, ndim, a_strides, b_strides, [&](int64_t i, int64_t ia, int64_t ib) {
    T da = 0, db = 0;  // d(a op b)/da, d(a op b)/db
    switch (op) {
      case BinaryOp::add: da = 1, db = 1; break;
      case BinaryOp::sub: da = 1, db = -1; break;
      case BinaryOp::mul: da = b[ib], db = a[ia]; break;
      case BinaryOp::div: da = T(1) / b[ib], db = -a[ia] / (b[ib] * b[ib]); break;
    }
    if (da_full) da_full[i] = dout[i] * da;
    if (db_full) db_full[i] = dout[i] * db;
  });
}

template void binary_forward<float>(BinaryOp, const float*, const int64_t*, const float*, const int64_t*, float*,
                                    const int64_t*, int64_t);
template void binary_forward<double>(BinaryOp, const double*, const int64_t*, const double*, const int64_t*, double*,
                                     const int64_t*, int64_t);
template void binary_backward<float>(BinaryOp, const float*, const int64_t*, const float*, const int64_t*,
                                     const float*, float*, float*, const int64_t*, int64_t);
template void binary_backward<double>(BinaryOp, const double*, const int64_t*, const double*, const int64_t*,
                                      const double*, double*, double*, const int64_t*, int64_t);

}  // namespace cvtrain::ref
