// The oneDNN engine, stream and primitive cache for CPU kernels, held by the Context (no globals).
// Opaque here so that only backend/cpu/*.cpp include dnnl.hpp (a heavy header).
#pragma once
#include <memory>

namespace cvtrain::cpu {

struct DnnlState;  // defined in backend/cpu/dnnl_state.h, included by kernels only

class DnnlRuntime {
 public:
  DnnlRuntime();
  ~DnnlRuntime();
  DnnlRuntime(const DnnlRuntime&) = delete;
  DnnlRuntime& operator=(const DnnlRuntime&) = delete;
  DnnlState& state() { return *state_; }

 private:
  std::unique_ptr<DnnlState> state_;
};

}  // namespace cvtrain::cpu
