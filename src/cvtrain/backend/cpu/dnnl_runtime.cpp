#include "cvtrain/backend/cpu/dnnl_runtime.h"

#include "cvtrain/backend/cpu/dnnl_state.h"

namespace cvtrain::cpu {

DnnlRuntime::DnnlRuntime() : state_(std::make_unique<DnnlState>()) {}
DnnlRuntime::~DnnlRuntime() = default;

}  // namespace cvtrain::cpu
