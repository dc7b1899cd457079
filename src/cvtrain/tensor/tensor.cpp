#include "cvtrain/tensor/tensor.h"

#include "cvtrain/backend/cuda/kernels.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace cvtrain {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(s[i]);
  }
  return out + ")";
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) CHECK(d >= 0, "negative dimension in ", shape_str(shape));
  Tensor t;
  t.storage_ = Storage::allocate(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.numel() > 0) std::memset(t.raw_data(), 0, static_cast<size_t>(t.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
        " values for shape ", shape_str(shape));
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, const Shape& shape, int64_t offset, DType dtype) {
  CHECK(storage, "view_of: null storage");
  CHECK((offset + shape_numel(shape)) * static_cast<int64_t>(dtype_size(dtype)) <=
            static_cast<int64_t>(storage->nbytes()),
        "view_of: ", shape_str(shape), " at offset ", offset, " exceeds storage of ", storage->nbytes(), " bytes");
  Tensor t;
  t.storage_ = std::move(storage);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.offset_ = offset;
  t.dtype_ = dtype;
  return t;
}

int64_t Tensor::size(int64_t d) const {
  if (d < 0) d += dim();
  CHECK(d >= 0 && d < dim(), "size(", d, ") of a tensor with shape ", shape_str(shape_));
  return shape_[d];
}

void* Tensor::raw_data() const {
  CHECK(defined(), "raw_data() of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

namespace {
// Calls f(src_offset, dst_index) for every element of a strided view, in logical order.
template <class F>
void for_each_strided(const Shape& shape, const Shape& strides, int64_t base, F&& f) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> idx(nd, 0);
  int64_t off = base;
  for (int64_t i = 0; i < n; ++i) {
    f(off, i);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}
}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = new_empty(shape_, dtype_);
  out.copy_(*this);
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = new_empty_like();
  out.copy_(*this);
  return out;
}

Tensor Tensor::empty_channels_last(const Shape& shape, DType dtype) {
  CHECK(shape.size() == 4, "empty_channels_last: a 4-D shape (N,C,H,W), got ", shape_str(shape));
  Tensor t = empty(shape, dtype);
  const int64_t C = shape[1], H = shape[2], W = shape[3];
  t.strides_ = {H * W * C, 1, W * C, C};
  return t;
}

bool Tensor::is_channels_last() const {
  if (dim() != 4) return false;
  int64_t expected = 1;
  for (int64_t d : {1, 3, 2, 0}) {
    if (shape_[d] != 1 && strides_[d] != expected) return false;
    expected *= shape_[d];
  }
  return true;
}

Tensor Tensor::channels_last() const {
  if (is_channels_last()) return *this;
  CHECK(!is_cuda(), "channels_last() of a CUDA tensor ", describe());
  Tensor out = empty_channels_last(shape_, dtype_);
  out.copy_(*this);
  return out;
}

Tensor Tensor::new_empty_like() const {
  if (!is_cuda() && is_strictly_channels_last()) return empty_channels_last(shape_, dtype_);
  return new_empty(shape_, dtype_);
}

namespace {
// dst (rows, cols) = transpose of src (cols, rows), both packed, in tiles of 16 for the caches
template <class T>
void transpose_plane(const T* __restrict src, T* __restrict dst, int64_t rows, int64_t cols) {
  constexpr int64_t B = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += B)
    for (int64_t c0 = 0; c0 < cols; c0 += B)
      for (int64_t r = r0; r < std::min(rows, r0 + B); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + B); ++c) dst[r * cols + c] = src[c * rows + r];
}

// NCHW <-> NHWC between packed 4-byte or 2-byte tensors: per image, (C,HW) <-> (HW,C); false when
// the dtype has another size
bool transpose_images(const void* src, void* dst, int64_t N, int64_t rows, int64_t cols, size_t es) {
  if (es != 4 && es != 2) return false;
  const int64_t plane = rows * cols;
#pragma omp parallel for schedule(static) if (N * plane > 65536)
  for (int64_t n = 0; n < N; ++n) {
    if (es == 4)
      transpose_plane(static_cast<const uint32_t*>(src) + n * plane, static_cast<uint32_t*>(dst) + n * plane, rows,
                      cols);
    else
      transpose_plane(static_cast<const uint16_t*>(src) + n * plane, static_cast<uint16_t*>(dst) + n * plane, rows,
                      cols);
  }
  return true;
}
}  // namespace

void Tensor::copy_(const Tensor& src) {
  CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "copy_: ", src.describe(), " into ", describe());
  const size_t es = dtype_size(dtype_);
  if (numel() == 0) return;
  if (is_cuda() || src.is_cuda()) {  // within the GPU, or between it and the CPU
    const size_t nbytes = static_cast<size_t>(numel()) * es;
    if (is_cuda() && src.is_cuda()) {
      CHECK(is_contiguous(), "copy_ into a non-contiguous CUDA view ", describe(), " is not supported");
      if (src.is_contiguous())
        cuda_runtime().copy_device(raw_data(), src.raw_data(), nbytes);
      else
        cuda::strided_copy(cuda_runtime(), static_cast<const char*>(src.storage_->data()) + src.offset_ * es,
                           src.shape_.data(), src.strides_.data(), src.dim(), static_cast<int64_t>(es), raw_data());
      return;
    }
    const Tensor s2 = src.contiguous();
    CHECK(is_contiguous(), "copy_ into a non-contiguous view ", describe(), " from another device");
    if (is_cuda())
      cuda_runtime().copy_to_device(raw_data(), s2.raw_data(), nbytes);
    else
      s2.cuda_runtime().copy_to_host(raw_data(), s2.raw_data(), nbytes);
    return;
  }
  if ((is_contiguous() && src.is_contiguous()) || (is_dense() && strides_ == src.strides_)) {
    std::memmove(raw_data(), src.raw_data(), static_cast<size_t>(numel()) * es);
    return;
  }
  if (dim() == 4) {  // NCHW <-> channels-last, the layout change of activations, without allocating
    const int64_t N = shape_[0], C = shape_[1], HW = shape_[2] * shape_[3];
    if (is_channels_last() && src.is_contiguous() && transpose_images(src.raw_data(), raw_data(), N, HW, C, es))
      return;
    if (is_contiguous() && src.is_channels_last() && transpose_images(src.raw_data(), raw_data(), N, C, HW, es))
      return;
  }
  const char* s = static_cast<const char*>(src.storage_->data());
  char* d = static_cast<char*>(storage_->data());
  // Gather the source into a packed buffer, then scatter into this view.
  std::vector<char> packed(static_cast<size_t>(numel()) * es);
  for_each_strided(src.shape_, src.strides_, src.offset_,
                   [&](int64_t so, int64_t i) { std::memcpy(&packed[i * es], s + so * es, es); });
  for_each_strided(shape_, strides_, offset_,
                   [&](int64_t dof, int64_t i) { std::memcpy(d + dof * es, &packed[i * es], es); });
}

Tensor Tensor::view(const Shape& shape) const {
  CHECK(is_contiguous(), "view", shape_str(shape), " of a non-contiguous tensor ", describe(),
        "; call contiguous() or reshape()");
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      CHECK(infer < 0, "view: more than one -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    CHECK(known > 0 && numel() % known == 0, "view: cannot infer -1 in ", shape_str(shape), " for ", describe());
    s[infer] = numel() / known;
  }
  CHECK(shape_numel(s) == numel(), "view: ", shape_str(shape), " has a different size than ", describe());
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const { return contiguous().view(shape); }

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: ", dims.size(), " dims for ", describe());
  std::vector<bool> seen(dims.size(), false);
  Tensor t = *this;
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = dims[i] < 0 ? dims[i] + dim() : dims[i];
    CHECK(d >= 0 && d < dim() && !seen[d], "permute: bad dims for ", describe());
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  if (d < 0) d += dim();
  CHECK(d >= 0 && d < dim(), "slice: dim ", d, " of ", describe());
  CHECK(step > 0, "slice: step must be positive");
  if (start < 0) start += shape_[d];
  if (end < 0) end += shape_[d];
  start = std::clamp<int64_t>(start, 0, shape_[d]);
  end = std::clamp<int64_t>(end, start, shape_[d]);
  Tensor t = *this;
  t.offset_ += start * strides_[d];
  t.shape_[d] = (end - start + step - 1) / step;
  t.strides_[d] *= step;
  return t;
}

Tensor Tensor::expand(const Shape& shape) const {
  CHECK(static_cast<int64_t>(shape.size()) >= dim(), "expand: ", describe(), " to ", shape_str(shape));
  Tensor t = *this;
  const int64_t lead = static_cast<int64_t>(shape.size()) - dim();
  t.shape_ = shape;
  t.strides_.assign(shape.size(), 0);
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i < lead) continue;
    int64_t src = shape_[i - lead];
    CHECK(src == shape[i] || src == 1, "expand: ", describe(), " to ", shape_str(shape));
    t.strides_[i] = src == 1 ? 0 : strides_[i - lead];
  }
  return t;
}

namespace {
float load_as_float(const void* p, DType t) {
  switch (t) {
    case DType::f32: return *static_cast<const float*>(p);
    case DType::bf16: return bf16_to_float(*static_cast<const bf16*>(p));
    case DType::i32: return static_cast<float>(*static_cast<const int32_t*>(p));
    case DType::i64: return static_cast<float>(*static_cast<const int64_t*>(p));
    case DType::u8: return static_cast<float>(*static_cast<const uint8_t*>(p));
  }
  return 0;
}
void store_from_float(void* p, DType t, float v) {
  switch (t) {
    case DType::f32: *static_cast<float*>(p) = v; break;
    case DType::bf16: *static_cast<bf16*>(p) = float_to_bf16(v); break;
    case DType::i32: *static_cast<int32_t*>(p) = static_cast<int32_t>(v); break;
    case DType::i64: *static_cast<int64_t*>(p) = static_cast<int64_t>(v); break;
    case DType::u8: *static_cast<uint8_t*>(p) = static_cast<uint8_t>(v); break;
  }
}
}  // namespace

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return clone();
  if (is_cuda()) return to_cpu().to(dtype).to_device_of(*this);  // conversions run on the CPU
  const bool f32_bf16 = (dtype_ == DType::f32 && dtype == DType::bf16) || (dtype_ == DType::bf16 && dtype == DType::f32);
  if (f32_bf16 && is_dense()) {  // bf16 activations: in memory order, the layout kept (channels-last stays)
    Tensor out = is_strictly_channels_last() ? empty_channels_last(shape_, dtype) : empty(shape_, dtype);
    const int64_t n = numel();
    if (dtype == DType::bf16) {
      const float* __restrict s = data<float>();
      bf16* __restrict d = out.data<bf16>();
#pragma omp parallel for simd if (n > 65536)
      for (int64_t i = 0; i < n; ++i) d[i] = float_to_bf16(s[i]);
    } else {
      const bf16* __restrict s = data<bf16>();
      float* __restrict d = out.data<float>();
#pragma omp parallel for simd if (n > 65536)
      for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_float(s[i]);
    }
    return out;
  }
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype);
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(out.raw_data());
  const size_t ss = dtype_size(dtype_), ds = dtype_size(dtype);
  const int64_t n = numel();
  if (dtype_ == DType::i64 && dtype == DType::i32) {  // keep integers exact, not through float
    for (int64_t i = 0; i < n; ++i) reinterpret_cast<int32_t*>(d)[i] = static_cast<int32_t>(reinterpret_cast<const int64_t*>(s)[i]);
    return out;
  }
  for (int64_t i = 0; i < n; ++i) store_from_float(d + i * ds, dtype, load_as_float(s + i * ss, dtype_));
  return out;
}

void Tensor::fill_(float value) {
  CHECK(dtype_ == DType::f32, "fill_ on ", describe());
  if (is_cuda()) {
    CHECK(is_contiguous(), "fill_ on a non-contiguous CUDA view ", describe());
    cuda::fill(cuda_runtime(), data<float>(), value, numel());
    return;
  }
  if (is_contiguous()) {
    std::fill_n(data<float>(), numel(), value);
    return;
  }
  float* base = static_cast<float*>(storage_->data());
  for_each_strided(shape_, strides_, offset_, [&](int64_t o, int64_t) { base[o] = value; });
}

std::vector<float> Tensor::to_vector() const {
  if (is_cuda()) return to_cpu().to_vector();
  Tensor c = dtype_ == DType::f32 ? contiguous() : to(DType::f32).contiguous();
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

float Tensor::item() const {
  CHECK(numel() == 1, "item() of ", describe());
  return to_vector()[0];
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + (is_cuda() ? " on cuda" : "");
}

cuda::Runtime& Tensor::cuda_runtime() const {
  CHECK(is_cuda(), "cuda_runtime() of a tensor on the CPU: ", describe());
  return *storage_->cuda_runtime();
}

Tensor Tensor::new_empty(const Shape& shape, DType dtype) const {
  if (!is_cuda()) return empty(shape, dtype);
  for (int64_t d : shape) CHECK(d >= 0, "negative dimension in ", shape_str(shape));
  Tensor t;
  t.storage_ = Storage::allocate_cuda(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype),
                                      storage_->cuda_runtime());
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::to_cuda(const std::shared_ptr<cuda::Runtime>& runtime) const {
  CHECK(defined(), "to_cuda() of an undefined tensor");
  Tensor t;
  t.storage_ = Storage::allocate_cuda(static_cast<size_t>(numel()) * dtype_size(dtype_), runtime);
  t.shape_ = shape_;
  t.strides_ = contiguous_strides(shape_);
  t.dtype_ = dtype_;
  t.copy_(*this);
  return t;
}

Tensor Tensor::to_cpu() const {
  if (!is_cuda()) return *this;
  Tensor t = empty(shape_, dtype_);
  t.copy_(*this);
  return t;
}

Tensor Tensor::to_device_of(const Tensor& like) const {
  if (like.is_cuda() == is_cuda() && (!is_cuda() || storage_->cuda_runtime() == like.storage_->cuda_runtime()))
    return *this;
  return like.is_cuda() ? to_cuda(like.storage_->cuda_runtime()) : to_cpu();
}

}  // namespace cvtrain
