// What the CUDA backend needs in every build: the "not compiled" error, and, when CVTRAIN_CUDA is
// off, a Runtime whose create() fails with that error and device_count() is 0 (so the CPU build
// links and tests skip).
#include "cvtrain/backend/cuda/kernels.h"
#include "cvtrain/base/error.h"

namespace cvtrain::cuda {

void not_compiled() {
  fail_input("device: cuda: this cvtrain was built without CUDA (configure with -DCVTRAIN_CUDA=ON)");
}

#if !CVTRAIN_CUDA
struct Runtime::Impl {};
bool Runtime::compiled() { return false; }
int Runtime::device_count() { return 0; }
std::shared_ptr<Runtime> Runtime::create(const RuntimeOptions&) { not_compiled(); }
Runtime::~Runtime() = default;
void* Runtime::allocate(size_t) { not_compiled(); }
void Runtime::release(void*, size_t) {}
size_t Runtime::bytes_cached() const { return 0; }
size_t Runtime::bytes_in_use() const { return 0; }
void Runtime::empty_cache() {}
void Runtime::copy_to_device(void*, const void*, size_t) { not_compiled(); }
void Runtime::copy_to_host(void*, const void*, size_t) { not_compiled(); }
void Runtime::copy_device(void*, const void*, size_t) { not_compiled(); }
void Runtime::memset_zero(void*, size_t) { not_compiled(); }
void Runtime::synchronize() {}
std::string Runtime::device_name() const { return "none"; }
std::string Runtime::profile_report() const { return ""; }
void Runtime::profile_reset() {}
#endif

}  // namespace cvtrain::cuda
