// f32 <-> bf16 copies for the bf16 (train.precision: bf16) convolutions and matrix products: a plain
// elementwise conversion, and a conversion fused with the NCHW <-> NHWC transpose (cuDNN's fast bf16
// convolutions want NHWC) through 32x32 shared-memory tiles. Round to nearest even, as
// float_to_bf16 on the CPU (base/bf16.h). Not for arithmetic in bf16: the ops stay f32 between.
#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::cuda {

namespace {

__device__ inline float to_f(float v) { return v; }
__device__ inline float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T>
__device__ inline T from_f(float v);
template <>
__device__ inline float from_f<float>(float v) { return v; }
template <>
__device__ inline __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// x: (N,R,S) -> y: (N,S,R), converting. Grid (ceil(S/32), ceil(R/32), N), block (32,8).
template <class Tin, class Tout>
__global__ void transpose_convert(const Tin* __restrict__ x, Tout* __restrict__ y, int64_t R, int64_t S) {
  __shared__ float tile[32][33];
  const int64_t n = blockIdx.z, r0 = int64_t{blockIdx.y} * 32, s0 = int64_t{blockIdx.x} * 32;
  const Tin* xn = x + n * R * S;
  Tout* yn = y + n * R * S;
  for (int k = threadIdx.y; k < 32; k += 8) {
    const int64_t r = r0 + k, s = s0 + threadIdx.x;
    if (r < R && s < S) tile[k][threadIdx.x] = to_f(xn[r * S + s]);
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += 8) {
    const int64_t s = s0 + k, r = r0 + threadIdx.x;
    if (r < R && s < S) yn[s * R + r] = from_f<Tout>(tile[threadIdx.x][k]);
  }
}

template <class Tin, class Tout>
__global__ void convert(const Tin* __restrict__ x, Tout* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    y[i] = from_f<Tout>(to_f(x[i]));
}

template <class Tin, class Tout>
void launch(Runtime& rt, const Tin* x, Tout* y, int64_t N, int64_t R, int64_t S, bool transpose) {
  const int64_t total = N * R * S;
  if (total == 0) return;
  cudaStream_t st = rt.impl().stream;
  if (!transpose || R == 1 || S == 1) {
    convert<<<blocks_for(total), 256, 0, st>>>(x, y, total);
  } else {
    CHECK(N <= 65535, "bf16 transpose: batch ", N, " above 65535");
    const dim3 grid(static_cast<unsigned>((S + 31) / 32), static_cast<unsigned>((R + 31) / 32),
                    static_cast<unsigned>(N));
    transpose_convert<<<grid, dim3(32, 8), 0, st>>>(x, y, R, S);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void to_bf16(Runtime& rt, const float* x, __nv_bfloat16* y, int64_t N, int64_t C, int64_t HW, bool nhwc) {
  CUDA_PROFILE(rt, "to_bf16");
  launch(rt, x, y, N, C, HW, nhwc);  // (N,C,HW) -> (N,HW,C)
}

void from_bf16(Runtime& rt, const __nv_bfloat16* y, float* x, int64_t N, int64_t C, int64_t HW, bool nhwc) {
  CUDA_PROFILE(rt, "from_bf16");
  launch(rt, y, x, N, HW, C, nhwc);  // (N,HW,C) -> (N,C,HW)
}

}  // namespace cvtrain::cuda
