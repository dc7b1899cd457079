// ParameterArena: every parameter of a built model in ONE contiguous f32 block and every gradient in
// another (llm.c's layout), so zero_grad is one memset and an optimizer walks flat arrays. The
// parameters' Variables are re-pointed at views of the blocks; the model works as before.
// Not a buffer store: running statistics stay where the module keeps them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/nn/module.h"

namespace cvtrain::nn {

class ParameterArena {
 public:
  struct Entry {
    std::string name;  // the state_dict name
    Shape shape;
    int64_t offset;  // in floats, into data() and grad(); a multiple of kAlign
    int64_t numel;
    bool is_bias_or_norm;  // a 1-D parameter (biases, norm scales and shifts): no weight decay, usually
  };
  // NOTE: each parameter starts on a 64-byte boundary; the few floats between parameters are zero
  // in both blocks and every optimizer here keeps them zero.
  static constexpr int64_t kAlign = 16;

  // Copies every parameter of `model` into the arena (values unchanged) and gives each parameter a
  // zeroed gradient view. Build the arena once the model is complete; parameters added later are
  // not in it.
  explicit ParameterArena(Module& model);

  // NOTE: with the parameters on a GPU (cuda) when the arena was built, the blocks live there
  // (device_data/device_grad: what the parameters view and the optimizer updates) and data()/grad()
  // are a host mirror, current only after sync_to_host() (logs, checkpoints and EMA read it).
  float* data() const { return static_cast<float*>((host_data_ ? host_data_ : data_)->data()); }
  float* grad() const { return static_cast<float*>((host_grad_ ? host_grad_ : grad_)->data()); }
  bool on_cuda() const { return data_ && data_->device() == Device::cuda; }
  float* device_data() const { return static_cast<float*>(data_->data()); }
  float* device_grad() const { return static_cast<float*>(grad_->data()); }
  const std::shared_ptr<cuda::Runtime>& cuda_runtime() const { return data_->cuda_runtime(); }
  void sync_to_host();    // device blocks -> host mirror (no-op on the CPU)
  void sync_to_device();  // host mirror of the values -> device (after writing data())
  int64_t size() const { return size_; }  // floats in each block, padding included
  const std::vector<Entry>& entries() const { return entries_; }
  void zero_grad();

 private:
  std::shared_ptr<Storage> data_, grad_;
  std::shared_ptr<Storage> host_data_, host_grad_;  // the host mirror on cuda, else null
  int64_t size_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace cvtrain::nn
