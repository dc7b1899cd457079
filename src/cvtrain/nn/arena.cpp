// ParameterArena: lays parameters out in one block (64-byte aligned slots) and re-points them.
#include "cvtrain/nn/arena.h"

#include <cstring>

namespace cvtrain::nn {

ParameterArena::ParameterArena(Module& model) {
  auto params = model.named_parameters();
  for (auto& [name, v] : params) {
    CHECK(v->data().dtype() == DType::f32, "ParameterArena: parameter '", name, "' is ", v->data().describe(),
          "; the arena holds f32 only");
    int64_t offset = (size_ + kAlign - 1) / kAlign * kAlign;
    entries_.push_back({name, v->shape(), offset, v->numel(), v->data().dim() <= 1});
    size_ = offset + v->numel();
  }
  size_t nbytes = static_cast<size_t>(size_) * sizeof(float);
  if (!params.empty() && params[0].second->data().is_cuda()) {  // the blocks on the GPU, a host mirror
    const auto& rt = params[0].second->data().storage()->cuda_runtime();
    data_ = Storage::allocate_cuda(nbytes, rt);
    grad_ = Storage::allocate_cuda(nbytes, rt);
    rt->memset_zero(data_->data(), nbytes);
    rt->memset_zero(grad_->data(), nbytes);
    host_data_ = Storage::allocate(nbytes);
    host_grad_ = Storage::allocate(nbytes);
  } else {
    data_ = Storage::allocate(nbytes);
    grad_ = Storage::allocate(nbytes);
  }
  if (nbytes) {
    std::memset(data(), 0, nbytes);  // the host block or mirror
    std::memset(grad(), 0, nbytes);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    Variable& v = *params[i].second;
    const Entry& e = entries_[i];
    Tensor slot = Tensor::view_of(data_, e.shape, e.offset);
    slot.copy_(v.data());
    v.data() = slot;
    v.set_grad(Tensor::view_of(grad_, e.shape, e.offset));
  }
}

void ParameterArena::zero_grad() {
  if (!size_) return;
  if (on_cuda())
    cuda_runtime()->memset_zero(grad_->data(), static_cast<size_t>(size_) * sizeof(float));
  else
    std::memset(grad_->data(), 0, static_cast<size_t>(size_) * sizeof(float));
}

void ParameterArena::sync_to_host() {
  if (!on_cuda() || !size_) return;
  const size_t nbytes = static_cast<size_t>(size_) * sizeof(float);
  cuda_runtime()->copy_to_host(host_data_->data(), data_->data(), nbytes);
  cuda_runtime()->copy_to_host(host_grad_->data(), grad_->data(), nbytes);
}

void ParameterArena::sync_to_device() {
  if (!on_cuda() || !size_) return;
  cuda_runtime()->copy_to_device(data_->data(), host_data_->data(), static_cast<size_t>(size_) * sizeof(float));
}

}  // namespace cvtrain::nn
