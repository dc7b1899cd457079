// CUDA twins of the broadcasting arithmetic (backend/cpu/binary.h), the activations
// (backend/cpu/activation.h), the sum over any set of dimensions (backend/cpu/reduce.h), gradient
// accumulation and strided copies. Grid-stride loops; reductions by one block per output in a
// fixed order, so results are deterministic. Formulas as in the CPU kernels, same stable forms.
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::cuda {

namespace {

constexpr int kMaxDims = 8;

struct Strided {  // a broadcast operand's layout, passed to kernels by value
  int64_t shape[kMaxDims];
  int64_t a[kMaxDims], b[kMaxDims];
  int ndim;
  bool packed;  // both operands packed with the output's shape: index directly
};

Strided make_strided(const int64_t* shape, const int64_t* as, const int64_t* bs, int64_t ndim) {
  CHECK(ndim <= kMaxDims, "cuda binary: at most ", kMaxDims, " dims, got ", ndim);
  Strided s{};
  s.ndim = static_cast<int>(ndim);
  int64_t expect = 1;
  bool packed = true;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    s.shape[d] = shape[d];
    s.a[d] = as[d];
    s.b[d] = bs[d];
    if (shape[d] != 1 && (as[d] != expect || bs[d] != expect)) packed = false;
    expect *= shape[d];
  }
  s.packed = packed;
  return s;
}

__device__ inline void offsets(const Strided& s, int64_t i, int64_t& oa, int64_t& ob) {
  if (s.packed) {
    oa = ob = i;
    return;
  }
  oa = ob = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    const int64_t idx = i % s.shape[d];
    i /= s.shape[d];
    oa += idx * s.a[d];
    ob += idx * s.b[d];
  }
}

__device__ inline float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return 0.0f;
}

__global__ void binary_forward_kernel(BinaryOp op, const float* a, const float* b, float* out, Strided s, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t oa, ob;
    offsets(s, i, oa, ob);
    out[i] = apply(op, a[oa], b[ob]);
  }
}

__global__ void binary_backward_kernel(BinaryOp op, const float* a, const float* b, const float* dout, float* da,
                                       float* db, Strided s, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t oa, ob;
    offsets(s, i, oa, ob);
    const float g = dout[i], av = a[oa], bv = b[ob];
    float ga = 0.0f, gb = 0.0f;
    switch (op) {
      case BinaryOp::add: ga = g; gb = g; break;
      case BinaryOp::sub: ga = g; gb = -g; break;
      case BinaryOp::mul: ga = g * bv; gb = g * av; break;
      case BinaryOp::div: ga = g / bv; gb = -g * av / (bv * bv); break;
    }
    if (da) da[i] = ga;
    if (db) db[i] = gb;
  }
}

// The elementwise loop every pointwise kernel below is written with.
template <class F>
__global__ void map_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) f(i);
}

template <class F>
void launch_map(Runtime& rt, int64_t n, F f) {
  if (n <= 0) return;
  map_kernel<<<blocks_for(n), 256, 0, rt.impl().stream>>>(n, f);
  CUDA_CHECK(cudaGetLastError());
}

__device__ inline float sigmoidf_stable(float x) {
  const float e = expf(-fabsf(x));
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}

constexpr float kSqrt2Pi = 0.7978845608028654f;     // sqrt(2 / pi)
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1 / sqrt(2 pi)

struct Reduce {  // sum over the reduced dims for each kept index
  int64_t kept_shape[kMaxDims], kept_stride[kMaxDims];
  int64_t red_shape[kMaxDims], red_stride[kMaxDims];
  int nkept, nred;
  int64_t red_count;
  float scale;
};

template <int kThreads>
__global__ void sum_kernel(const float* x, float* y, Reduce r) {
  const int64_t o = blockIdx.x;
  int64_t base = 0, rest = o;
  for (int d = r.nkept - 1; d >= 0; --d) {
    base += (rest % r.kept_shape[d]) * r.kept_stride[d];
    rest /= r.kept_shape[d];
  }
  float acc = 0.0f;
  for (int64_t j = threadIdx.x; j < r.red_count; j += kThreads) {
    int64_t off = base, q = j;
    for (int d = r.nred - 1; d >= 0; --d) {
      off += (q % r.red_shape[d]) * r.red_stride[d];
      q /= r.red_shape[d];
    }
    acc += x[off];
  }
  __shared__ float part[kThreads];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[o] = r.scale * part[0];
}

template <class T>
__global__ void strided_copy_kernel(const T* src, T* dst, Strided s, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t oa, ob;
    offsets(s, i, oa, ob);
    dst[i] = src[oa];
  }
}

}  // namespace

void binary_forward(Runtime& rt, BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                    const int64_t* b_strides, float* out, const int64_t* shape, int64_t ndim) {
  CUDA_PROFILE(rt, "binary_forward");
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  binary_forward_kernel<<<blocks_for(n), 256, 0, rt.impl().stream>>>(op, a, b, out,
                                                                    make_strided(shape, a_strides, b_strides, ndim), n);
  CUDA_CHECK(cudaGetLastError());
}

void binary_backward(Runtime& rt, BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                     const int64_t* b_strides, const float* dout, float* da_full, float* db_full, const int64_t* shape,
                     int64_t ndim) {
  CUDA_PROFILE(rt, "binary_backward");
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  binary_backward_kernel<<<blocks_for(n), 256, 0, rt.impl().stream>>>(
      op, a, b, dout, da_full, db_full, make_strided(shape, a_strides, b_strides, ndim), n);
  CUDA_CHECK(cudaGetLastError());
}

void scalar_forward(Runtime& rt, BinaryOp op, const float* x, float s, float* y, int64_t n) {
  CUDA_PROFILE(rt, "scalar_forward");
  launch_map(rt, n, [=] __device__(int64_t i) { y[i] = apply(op, x[i], s); });
}

void add_inplace(Runtime& rt, float* dst, const float* src, int64_t n) {
  CUDA_PROFILE(rt, "add_inplace");
  launch_map(rt, n, [=] __device__(int64_t i) { dst[i] += src[i]; });
}

void fill(Runtime& rt, float* x, float value, int64_t n) {
  CUDA_PROFILE(rt, "fill");
  launch_map(rt, n, [=] __device__(int64_t i) { x[i] = value; });
}

void strided_copy(Runtime& rt, const void* src, const int64_t* shape, const int64_t* strides, int64_t ndim,
                  int64_t elem_size, void* dst) {
  CUDA_PROFILE(rt, "strided_copy");
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  const Strided s = make_strided(shape, strides, strides, ndim);
  cudaStream_t st = rt.impl().stream;
  switch (elem_size) {
    case 1: strided_copy_kernel<<<blocks_for(n), 256, 0, st>>>(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), s, n); break;
    case 2: strided_copy_kernel<<<blocks_for(n), 256, 0, st>>>(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), s, n); break;
    case 4: strided_copy_kernel<<<blocks_for(n), 256, 0, st>>>(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), s, n); break;
    case 8: strided_copy_kernel<<<blocks_for(n), 256, 0, st>>>(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), s, n); break;
    default: CHECK(false, "strided_copy: element size ", elem_size);
  }
  CUDA_CHECK(cudaGetLastError());
}

void sum_forward(Runtime& rt, const float* x, const int64_t* shape, const uint8_t* reduce, int64_t ndim, float scale,
                 float* y) {
  CUDA_PROFILE(rt, "sum_forward");
  CHECK(ndim <= kMaxDims, "cuda sum: at most ", kMaxDims, " dims, got ", ndim);
  Reduce r{};
  r.scale = scale;
  r.red_count = 1;
  int64_t kept_count = 1, stride = 1;
  int64_t ks[kMaxDims], kst[kMaxDims], rs[kMaxDims], rst[kMaxDims];
  int nk = 0, nr = 0;
  for (int64_t d = ndim - 1; d >= 0; --d) {  // collected from the right, then reversed
    if (reduce[d]) {
      rs[nr] = shape[d];
      rst[nr++] = stride;
      r.red_count *= shape[d];
    } else {
      ks[nk] = shape[d];
      kst[nk++] = stride;
      kept_count *= shape[d];
    }
    stride *= shape[d];
  }
  for (int i = 0; i < nk; ++i) {
    r.kept_shape[i] = ks[nk - 1 - i];
    r.kept_stride[i] = kst[nk - 1 - i];
  }
  for (int i = 0; i < nr; ++i) {
    r.red_shape[i] = rs[nr - 1 - i];
    r.red_stride[i] = rst[nr - 1 - i];
  }
  r.nkept = nk;
  r.nred = nr;
  if (kept_count == 0) return;
  if (r.red_count == 0) {
    fill(rt, y, 0.0f, kept_count);
    return;
  }
  CHECK(kept_count < (int64_t{1} << 31), "cuda sum: too many outputs");
  sum_kernel<256><<<static_cast<unsigned>(kept_count), 256, 0, rt.impl().stream>>>(x, y, r);
  CUDA_CHECK(cudaGetLastError());
}

void relu_forward(Runtime& rt, const float* x, float* y, int64_t n) {
  CUDA_PROFILE(rt, "relu_forward");
  launch_map(rt, n, [=] __device__(int64_t i) { y[i] = x[i] > 0.0f ? x[i] : 0.0f; });
}
void relu_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t n) {
  CUDA_PROFILE(rt, "relu_backward");
  launch_map(rt, n, [=] __device__(int64_t i) { dx[i] = y[i] > 0.0f ? dy[i] : 0.0f; });
}
void sigmoid_forward(Runtime& rt, const float* x, float* y, int64_t n) {
  CUDA_PROFILE(rt, "sigmoid_forward");
  launch_map(rt, n, [=] __device__(int64_t i) { y[i] = sigmoidf_stable(x[i]); });
}
void sigmoid_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t n) {
  CUDA_PROFILE(rt, "sigmoid_backward");
  launch_map(rt, n, [=] __device__(int64_t i) { dx[i] = dy[i] * y[i] * (1.0f - y[i]); });
}
void tanh_forward(Runtime& rt, const float* x, float* y, int64_t n) {
  CUDA_PROFILE(rt, "tanh_forward");
  launch_map(rt, n, [=] __device__(int64_t i) { y[i] = tanhf(x[i]); });
}
void tanh_backward(Runtime& rt, const float* y, const float* dy, float* dx, int64_t n) {
  CUDA_PROFILE(rt, "tanh_backward");
  launch_map(rt, n, [=] __device__(int64_t i) { dx[i] = dy[i] * (1.0f - y[i] * y[i]); });
}
void leaky_relu_forward(Runtime& rt, const float* x, float* y, int64_t n, float slope) {
  CUDA_PROFILE(rt, "leaky_relu_forward");
  launch_map(rt, n, [=] __device__(int64_t i) { y[i] = x[i] > 0.0f ? x[i] : slope * x[i]; });
}
void leaky_relu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n, float slope) {
  CUDA_PROFILE(rt, "leaky_relu_backward");
  launch_map(rt, n, [=] __device__(int64_t i) { dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i]; });
}
void elu_forward(Runtime& rt, const float* x, float* y, int64_t n, float alpha, float scale) {
  CUDA_PROFILE(rt, "elu_forward");
  launch_map(rt, n, [=] __device__(int64_t i) {
    y[i] = scale * (x[i] > 0.0f ? x[i] : alpha * expm1f(fminf(x[i], 0.0f)));
  });
}
void elu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n, float alpha, float scale) {
  CUDA_PROFILE(rt, "elu_backward");
  launch_map(rt, n, [=] __device__(int64_t i) {
    dx[i] = dy[i] * scale * (x[i] > 0.0f ? 1.0f : alpha * expf(fminf(x[i], 0.0f)));
  });
}
void gelu_forward(Runtime& rt, const float* x, float* y, int64_t n, bool approximate_tanh) {
  CUDA_PROFILE(rt, "gelu_forward");
  if (approximate_tanh)
    launch_map(rt, n, [=] __device__(int64_t i) {
      const float v = x[i];
      y[i] = 0.5f * v * (1.0f + tanhf(kSqrt2Pi * (v + 0.044715f * v * v * v)));
    });
  else
    launch_map(rt, n, [=] __device__(int64_t i) { y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * kInvSqrt2)); });
}
void gelu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n, bool approximate_tanh) {
  CUDA_PROFILE(rt, "gelu_backward");
  if (approximate_tanh)
    launch_map(rt, n, [=] __device__(int64_t i) {
      const float v = fminf(fmaxf(x[i], -10.0f), 10.0f);  // as the CPU kernel: no inf * 0
      const float t = tanhf(kSqrt2Pi * (v + 0.044715f * v * v * v));
      const float dinner = kSqrt2Pi * (1.0f + 3.0f * 0.044715f * v * v);
      dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner);
    });
  else
    launch_map(rt, n, [=] __device__(int64_t i) {
      const float v = x[i];
      dx[i] = dy[i] * (0.5f * (1.0f + erff(v * kInvSqrt2)) + v * kInvSqrt2Pi * expf(-0.5f * v * v));
    });
}
void silu_forward(Runtime& rt, const float* x, float* y, int64_t n) {
  CUDA_PROFILE(rt, "silu_forward");
  launch_map(rt, n, [=] __device__(int64_t i) { y[i] = x[i] * sigmoidf_stable(x[i]); });
}
void silu_backward(Runtime& rt, const float* x, const float* dy, float* dx, int64_t n) {
  CUDA_PROFILE(rt, "silu_backward");
  launch_map(rt, n, [=] __device__(int64_t i) {
    const float s = sigmoidf_stable(x[i]);
    dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
  });
}

}  // namespace cvtrain::cuda
