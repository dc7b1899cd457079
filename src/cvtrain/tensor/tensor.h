// Tensor: a view over shared Storage: shape, strides counted in elements, offset, dtype.
// reshape/view, permute, slice and expand make views; contiguous() is the one explicit copy.
// A Tensor knows nothing of gradients (that is autograd::Variable) and does no math beyond copies.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/base/error.h"
#include "cvtrain/tensor/dtype.h"
#include "cvtrain/tensor/storage.h"

namespace cvtrain {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);
Shape contiguous_strides(const Shape& s);

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  // A view of `shape` at element `offset` of existing storage (how the parameter arena hands out slots).
  static Tensor view_of(std::shared_ptr<Storage> storage, const Shape& shape, int64_t offset,
                        DType dtype = DType::f32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Typed pointer to the first element (storage base + offset). Checks the dtype.
  template <class T>
  T* data() const {
    CHECK(defined(), "data() of an undefined tensor");
    CHECK(DTypeOf<T>::value == dtype_, "data<", dtype_name(DTypeOf<T>::value), ">() of a ",
          dtype_name(dtype_), " tensor");
    return static_cast<T*>(storage_->data()) + offset_;
  }
  void* raw_data() const;

  bool is_contiguous() const;
  Tensor contiguous() const;  // this if already contiguous, else a packed copy
  Tensor clone() const;       // always a packed copy, channels-last kept (see below)

  // Channels-last memory format (PyTorch's): a 4-D tensor keeps its logical shape (N,C,H,W) with
  // strides (H*W*C, 1, W*C, C), so memory runs N,H,W,C. contiguous() turns it back into NCHW.
  static Tensor empty_channels_last(const Shape& shape, DType dtype = DType::f32);  // CPU, 4-D
  bool is_channels_last() const;  // 4-D with channels-last strides (size-1 dims ignored)
  bool is_dense() const { return is_contiguous() || is_channels_last(); }  // each element once, no gaps
  // channels-last and not also contiguous (which (N,1,H,W) or (N,C,1,1) tensors are): the layout
  // kernels must follow
  bool is_strictly_channels_last() const { return is_channels_last() && !is_contiguous(); }
  Tensor channels_last() const;  // this if already channels-last, else a channels-last copy (4-D)
  // Same shape, dtype and device; channels-last when this is strictly channels-last (CPU).
  Tensor new_empty_like() const;

  Tensor view(const Shape& shape) const;     // requires contiguous; one dim may be -1
  Tensor reshape(const Shape& shape) const;  // view when possible, else contiguous().view()
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor expand(const Shape& shape) const;  // size-1 dims broadcast with stride 0
  // converting copy (f32 <-> bf16 and the integer types); f32 <-> bf16 of a channels-last tensor stays
  // channels-last, any other result is contiguous
  Tensor to(DType dtype) const;

  // Devices (backend/cuda). A CUDA tensor's Storage holds the cuda::Runtime that made it; new tensors
  // "on the same device" come from that runtime, so ops and their backward need no other handle.
  Tensor to_cuda(const std::shared_ptr<cuda::Runtime>& runtime) const;  // packed copy on the GPU
  Tensor to_cpu() const;                            // packed copy on the CPU (itself if already there)
  Tensor to_device_of(const Tensor& like) const;    // on like's device (itself if already there)
  Tensor new_empty(const Shape& shape, DType dtype = DType::f32) const;  // on this tensor's device
  bool is_cuda() const { return device() == Device::cuda; }
  cuda::Runtime& cuda_runtime() const;  // CHECKs is_cuda()

  void fill_(float value);           // f32 only
  void copy_(const Tensor& src);     // same shape and dtype, any strides
  std::vector<float> to_vector() const;  // f32 or bf16, logical order
  float item() const;                    // one-element f32 tensor

  std::string describe() const;  // "f32(128,1,28,28)"

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::f32;
};

}  // namespace cvtrain
