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
  data_ = Storage::allocate(nbytes);
  grad_ = Storage::allocate(nbytes);
  if (nbytes) {
    std::memset(data_->data(), 0, nbytes);
    std::memset(grad_->data(), 0, nbytes);
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
  if (size_) std::memset(grad_->data(), 0, static_cast<size_t>(size_) * sizeof(float));
}

}  // namespace cvtrain::nn
