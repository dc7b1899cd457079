// cuda::Runtime: device selection, one stream, cuBLAS/cuDNN handles and the caching allocator.
// The allocator rounds sizes up (512 B, or 1 MiB above 1 MiB) and keeps freed blocks per size;
// a training step has the same shapes every time, so after the first step nothing reaches cudaMalloc.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cvtrain/backend/cuda/runtime_impl.h"

namespace cvtrain::cuda {

namespace {
// The switches of RuntimeOptions from the environment: NAME=0 (or =off) turns a path off.
RuntimeOptions with_env(RuntimeOptions o) {
  auto off = [](const char* name) {
    const char* v = std::getenv(name);
    return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "cudnn") == 0);
  };
  if (off("CVTRAIN_CUDA_NHWC")) o.conv_nhwc = false;
  if (off("CVTRAIN_CUDA_BF16_GEMM")) o.bf16_gemm = false;
  if (off("CVTRAIN_CUDA_BN")) o.own_batch_norm = false;
  if (off("CVTRAIN_CUDA_FUSED")) o.fused_bn = false;
  if (off("CVTRAIN_CUDA_BF16")) o.force_f32 = true;
  if (off("CVTRAIN_CUDA_ASYNC_COPY")) o.async_upload = false;
  return o;
}

size_t round_size(size_t n) {
  constexpr size_t kSmall = 512, kLarge = size_t{1} << 20;
  if (n <= kLarge) return (n + kSmall - 1) / kSmall * kSmall;
  return (n + kLarge - 1) / kLarge * kLarge;
}
}  // namespace

bool Runtime::compiled() { return true; }

int Runtime::device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

std::shared_ptr<Runtime> Runtime::create(const RuntimeOptions& options) {
  const int n = device_count();
  if (n == 0) fail_input("device: cuda: no CUDA GPU is visible (cudaGetDeviceCount found none)");
  if (options.device < 0 || options.device >= n)
    fail_input("device: cuda: device ", options.device, " does not exist (", n, " visible)");
  return std::shared_ptr<Runtime>(new Runtime(with_env(options)));
}

Runtime::Runtime(const RuntimeOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {
  CUDA_CHECK(cudaSetDevice(options.device));
  CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasCreate(&impl_->cublas));
  CUBLAS_CHECK(cublasSetStream(impl_->cublas, impl_->stream));
  CUBLAS_CHECK(cublasSetMathMode(impl_->cublas, options.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                   : CUBLAS_PEDANTIC_MATH));
  CUDNN_CHECK(cudnnCreate(&impl_->cudnn));
  CUDNN_CHECK(cudnnSetStream(impl_->cudnn, impl_->stream));
}

Runtime::~Runtime() {
  cudaStreamSynchronize(impl_->stream);
  empty_cache();
  if (impl_->workspace) cudaFree(impl_->workspace);
  if (impl_->ones) cudaFree(impl_->ones);
  if (impl_->zeros) cudaFree(impl_->zeros);
  for (auto& st : impl_->staging) {
    if (st.host) cudaFreeHost(st.host);
    if (st.done) cudaEventDestroy(st.done);
  }
  cudnnDestroy(impl_->cudnn);
  cublasDestroy(impl_->cublas);
  cudaStreamDestroy(impl_->stream);
}

void* Runtime::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t size = round_size(nbytes);
  auto& list = impl_->free_blocks[size];
  impl_->bytes_in_use += size;
  if (!list.empty()) {
    void* p = list.back();
    list.pop_back();
    impl_->bytes_cached -= size;
    return p;
  }
  void* p = nullptr;
  if (cudaMalloc(&p, size) != cudaSuccess) {
    cudaGetLastError();
    empty_cache();  // give the cached blocks back and try once more
    CUDA_CHECK(cudaMalloc(&p, size));
  }
  return p;
}

void Runtime::release(void* p, size_t nbytes) {
  if (!p) return;
  const size_t size = round_size(nbytes);
  // NOTE: the block may still be read by kernels queued on the stream; reusing it for a later kernel
  // on the same stream is safe because the stream runs them in order.
  impl_->free_blocks[size].push_back(p);
  impl_->bytes_in_use -= size;
  impl_->bytes_cached += size;
}

size_t Runtime::bytes_cached() const { return impl_->bytes_cached; }
size_t Runtime::bytes_in_use() const { return impl_->bytes_in_use; }

void Runtime::empty_cache() {
  cudaStreamSynchronize(impl_->stream);
  for (auto& [size, list] : impl_->free_blocks)
    for (void* p : list) cudaFree(p);
  impl_->free_blocks.clear();
  impl_->bytes_cached = 0;
}

void Runtime::copy_to_device(void* dst, const void* src, size_t nbytes) {
  if (!nbytes) return;
  if (options_.async_upload && nbytes >= (size_t{64} << 10)) {
    Impl::Staging& st = impl_->staging[impl_->staging_next];
    impl_->staging_next = (impl_->staging_next + 1) % 4;
    if (st.done) CUDA_CHECK(cudaEventSynchronize(st.done));  // the buffer's previous copy has finished
    else CUDA_CHECK(cudaEventCreateWithFlags(&st.done, cudaEventDisableTiming));
    if (st.bytes < nbytes) {
      if (st.host) CUDA_CHECK(cudaFreeHost(st.host));
      CUDA_CHECK(cudaMallocHost(&st.host, nbytes));
      st.bytes = nbytes;
    }
    std::memcpy(st.host, src, nbytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, st.host, nbytes, cudaMemcpyHostToDevice, impl_->stream));
    CUDA_CHECK(cudaEventRecord(st.done, impl_->stream));
    return;
  }
  CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, impl_->stream));
  CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void Runtime::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (!nbytes) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, impl_->stream));
  CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void Runtime::copy_device(void* dst, const void* src, size_t nbytes) {
  if (!nbytes) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, impl_->stream));
}

void Runtime::memset_zero(void* dst, size_t nbytes) {
  if (!nbytes) return;
  CUDA_CHECK(cudaMemsetAsync(dst, 0, nbytes, impl_->stream));
}

void Runtime::synchronize() { CUDA_CHECK(cudaStreamSynchronize(impl_->stream)); }

std::string Runtime::device_name() const {
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, options_.device));
  return prop.name;
}

ProfileScope::ProfileScope(Runtime& rt, const char* name) : rt_(rt.options().profile ? &rt : nullptr), name_(name) {
  if (!rt_) return;
  rt.synchronize();
  t0_ = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

ProfileScope::~ProfileScope() {
  if (!rt_) return;
  cudaStreamSynchronize(rt_->impl().stream);
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  auto& e = rt_->impl().profile[name_];
  e.first += t - t0_;
  e.second += 1;
}

void Runtime::profile_reset() { impl_->profile.clear(); }

// NOTE: a kernel that calls another (linear_forward -> gemm) is counted in both rows.
std::string Runtime::profile_report() const {
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(impl_->profile.begin(), impl_->profile.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  double total = 0;
  for (const auto& r : rows) total += r.second.first;
  std::string out;
  char line[160];
  for (const auto& [name, v] : rows) {
    std::snprintf(line, sizeof line, "%-28s %8lld calls %10.2f ms %5.1f%%\n", name.c_str(), static_cast<long long>(v.second),
                  v.first * 1e3, total > 0 ? 100.0 * v.first / total : 0.0);
    out += line;
  }
  return out;
}

void* Runtime::Impl::ensure_workspace(size_t nbytes) {
  if (nbytes <= workspace_bytes) return workspace;
  CUDA_CHECK(cudaStreamSynchronize(stream));  // the old workspace may still be in use
  if (workspace) CUDA_CHECK(cudaFree(workspace));
  CUDA_CHECK(cudaMalloc(&workspace, nbytes));
  workspace_bytes = nbytes;
  return workspace;
}

}  // namespace cvtrain::cuda
