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

  // Mixed precision (train.precision: bf16): convolutions and matrix products compute in bf16,
  // reading bf16 copies of f32 operands (master weights, f32 activations: converted per call, in the
  // reorders they run anyway) and accumulating in f32; they write f32, or bf16 into a bf16 buffer.
  void set_bf16(bool on) { bf16_ = on; }
  bool bf16() const { return bf16_; }
  // With bf16 on (train.bf16_activations): activations between layers are bf16 too. Convolutions write
  // bf16 output; batch norm (+ add + ReLU) and max pooling read and write bf16 (computing in f32);
  // ops without a bf16 kernel compute in f32 on a converted copy. A bf16 tensor's gradient is bf16.
  void set_bf16_activations(bool on) { bf16_activations_ = on; }
  bool bf16_activations() const { return bf16_ && bf16_activations_; }

  // Channels-last activations (train.memory_format): convolutions write their output channels-last
  // (NHWC memory, logical shape (N,C,H,W)) even from NCHW input, and the ops after them keep that
  // layout (docs/perf.md). Off: a convolution's output follows its input's layout.
  void set_channels_last(bool on) { channels_last_ = on; }
  bool channels_last() const { return channels_last_; }

 private:
  std::unique_ptr<DnnlState> state_;
  bool bf16_ = false;
  bool bf16_activations_ = false;
  bool channels_last_ = false;
};

}  // namespace cvtrain::cpu
