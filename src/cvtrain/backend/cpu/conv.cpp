// oneDNN convolution: one forward, backward-data and backward-weights primitive per shape, cached in
// the DnnlRuntime together with the reorders between the caller's NCHW/OIHW buffers and the layout
// the primitive computes in. The blocked copies and oneDNN's scratchpads live in one workspace
// shared by all cached convolutions, grown to the largest call, so a call allocates nothing.
// Which kernel each direction uses was measured; see preferred_*() below.
#include "cvtrain/backend/cpu/conv.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cvtrain/backend/cpu/dnnl_state.h"
#include "cvtrain/base/error.h"
#include "cvtrain/base/bf16.h"

namespace cvtrain {

Conv2dShape make_conv2d_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                              int64_t dilation_w, int64_t groups) {
  CHECK(N > 0 && C > 0 && H > 0 && W > 0 && OC > 0 && KH > 0 && KW > 0, "conv2d: sizes must be positive, got input (",
        N, ",", C, ",", H, ",", W, ") and weight (", OC, ",", C, "/groups,", KH, ",", KW, ")");
  CHECK(stride_h > 0 && stride_w > 0 && dilation_h > 0 && dilation_w > 0, "conv2d: stride (", stride_h, ",", stride_w,
        ") and dilation (", dilation_h, ",", dilation_w, ") must be positive");
  CHECK(pad_h >= 0 && pad_w >= 0, "conv2d: padding (", pad_h, ",", pad_w, ") must be non-negative");
  CHECK(groups > 0 && C % groups == 0 && OC % groups == 0, "conv2d: groups=", groups,
        " must divide the input channels ", C, " and the output channels ", OC);
  const int64_t span_h = dilation_h * (KH - 1) + 1, span_w = dilation_w * (KW - 1) + 1;
  CHECK(H + 2 * pad_h >= span_h && W + 2 * pad_w >= span_w, "conv2d: the kernel spans (", span_h, ",", span_w,
        ") with dilation, more than the padded input (", H + 2 * pad_h, ",", W + 2 * pad_w, ")");
  Conv2dShape s{N, C, H, W, OC, KH, KW, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, 0, 0};
  s.OH = (H + 2 * pad_h - span_h) / stride_h + 1;
  s.OW = (W + 2 * pad_w - span_w) / stride_w + 1;
  return s;
}

}  // namespace cvtrain

namespace cvtrain::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;
constexpr auto bf16 = memory::data_type::bf16;
using dt = memory::data_type;

// How a primitive computes: oneDNN's gemm-based kernels on the caller's plain NCHW/OIHW, its direct
// jit kernels on blocked nChw16c layouts, or Winograd F(4x4,3x3) on blocked layouts.
enum class Kind { plain, blocked, winograd, nhwc };

// NOTE: measured (bench/bench_conv.cpp, and the candidates' calls interleaved on more shapes; AMD
// EPYC Zen 5, AVX-512, 2 threads, N=128, 3x3 pad 1, ms per call with reorders, medians):
// Direct blocked beats plain (CNN conv2 32->64 on 14x14: forward 2.1 vs 3.5, backward-data 2.1 vs
// 4.0, backward-weights 2.2 vs 3.7; C=3 on 32x32 forward 1.37 vs 1.87; C=1 backward-weights 0.60 vs
// 2.66) except where few input channels leave the 16-channel blocks mostly empty:
//   forward, C=1 (CNN conv1 1->32 on 28x28): a tie (0.40 vs 0.43); plain moves 25 MB less memory;
//   backward-data, C=1: 0.75 vs 2.64; C=3: 2.5 vs 4.1; C=4: 2.6 vs 3.6; C=8: 3.4 vs 3.1 (blocked).
// Winograd beats direct blocked for 3x3 stride 1 once channels reach 32 (forward / backward-data:
// 32->64 on 14x14 2.17 / 2.51 vs 2.54 / 2.73; 64->64 on 8x8 1.01 / 1.01 vs 1.47 / 1.49; 128->128
// on 8x8 3.37 / 3.42 vs 5.53 / 5.78) and loses below (16->16 on 32x32: 4.5 vs 2.9). Its results
// differ from direct by ~1e-6 relative (max |diff| 3.7e-6 on outputs up to 3). Backward-weights
// stays direct (Winograd's is no faster there and needs more memory).
bool winograd_fits(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 &&
         s.groups == 1 && s.C >= 32 && s.OC >= 32;
}
// Channels-last: Winograd needs blocked copies of NHWC activations (reorders both ways), and still
// wins from 32 channels: 1 thread, with reorders, forward / backward-data: 64->64 on 7x7 1.33 / 1.33
// vs 1.68 / 1.80 ms direct on NHWC; 32->32 on 14x14 1.92 / 1.89 vs 1.84 / 1.89 (bench_conv cl:1); CNN
// conv2 32->64 on 14x14 3.8 / 4.5 (+ about 1 ms of reorders) vs 6.1 / 7.6 (ONEDNN_VERBOSE).
bool winograd_fits_channels_last(const Conv2dShape& s) { return winograd_fits(s); }
Kind preferred_forward(const Conv2dShape& s, bool low) {
  // channels-last with 16 channels in and out: the direct kernel on nChw16c, which is the caller's
  // memory itself (2.0 vs 2.9 ms for brgconv on nhwc, ResNet-20's 16->16 on 28x28, 1 thread); in
  // bf16 the input is converted anyway, and the blocked bf16 kernel beats brgconv on nhwc (CNN conv2
  // 32->64 on 14x14: 2.5 ms + 0.4 for the output's reorder vs 3.3) up to 32 input channels; from 64
  // brgconv on nhwc wins once the two reorders count (WRN-16-4 bf16, 2 threads, ms per call: 64->64
  // on 28x28 7.71 vs 7.21 + 1.3 of reorders; 256->256 on 7x7 7.50 vs 7.95 + 0.4; whole step 386 ->
  // 397 img/s; ResNet-20 bf16 evaluation 10,700 -> 11,500 img/s, training unchanged)
  if (s.channels_last && s.groups == 1 && ((s.C == 16 && s.OC == 16) || (low && s.C < 64))) return Kind::blocked;
  if (s.channels_last) return winograd_fits_channels_last(s) ? Kind::winograd : Kind::nhwc;
  if (s.groups == 1 && s.C == 1) return Kind::plain;
  return winograd_fits(s) ? Kind::winograd : Kind::blocked;
}
Kind preferred_backward_data(const Conv2dShape& s) {
  if (s.channels_last) return winograd_fits_channels_last(s) ? Kind::winograd : Kind::nhwc;
  if (s.groups == 1 && s.C < 8) return Kind::plain;
  return winograd_fits(s) ? Kind::winograd : Kind::blocked;
}
// Direct blocked; channels-last only where it needs no reorder (16 channels in and out: nChw16c is
// nhwc): with reorders from nhwc it ties or loses (1 thread: ResNet-20 32->32 on 14x14 1.98 + two
// reorders vs 2.40 ms on nhwc; CNN conv1 1->32: 0.6 + 1.8 for dy's reorder vs 2.0). In bf16 the
// operands are converted anyway and the nhwc bf16 kernel wins on every shape (bench_conv dir:2 cl:1,
// 1 thread: ResNet-20 16/32/64 channels 1.71 / 1.89 / 2.21 vs 2.56 / 2.04 / 2.41 ms blocked).
Kind preferred_backward_weights(const Conv2dShape& s, bool low) {
  if (s.channels_last) return !low && s.groups == 1 && s.C == 16 && s.OC == 16 ? Kind::blocked : Kind::nhwc;
  return Kind::blocked;
}

// oneDNN's view of the geometry: dilation counts the gaps (0 = dense), and the right/bottom padding
// is what makes the floor in OH come out exactly (it may be smaller than the left padding).
struct Geometry {
  memory::dims src, weights, bias, dst, strides, dilates, pad_l, pad_r;
  tag weights_tag;
};

Geometry geometry(const Conv2dShape& s) {
  Geometry g;
  g.src = {s.N, s.C, s.H, s.W};
  g.dst = {s.N, s.OC, s.OH, s.OW};
  g.bias = {s.OC};
  // OIHW with OC = groups * OC/groups is the same memory as GOIHW
  if (s.groups == 1) {
    g.weights = {s.OC, s.C, s.KH, s.KW};
    g.weights_tag = tag::oihw;
  } else {
    g.weights = {s.groups, s.OC / s.groups, s.C / s.groups, s.KH, s.KW};
    g.weights_tag = tag::goihw;
  }
  g.strides = {s.stride_h, s.stride_w};
  g.dilates = {s.dilation_h - 1, s.dilation_w - 1};
  g.pad_l = {s.pad_h, s.pad_w};
  g.pad_r = {(s.OH - 1) * s.stride_h + s.dilation_h * (s.KH - 1) + 1 - s.H - s.pad_h,
             (s.OW - 1) * s.stride_w + s.dilation_w * (s.KW - 1) + 1 - s.W - s.pad_w};
  return g;
}

std::string cache_key(const char* direction, const Conv2dShape& s, bool bias, ConvImpl impl, bool low) {
  static constexpr const char* names[] = {" auto", " plain", " blocked", " winograd", " nhwc"};
  std::string k = direction;
  if (low) k += " bf16";
  if (s.channels_last) k += " cl";
  if (s.x_bf16) k += " xb";
  if (s.y_bf16) k += " yb";
  k += names[static_cast<int>(impl)];
  for (int64_t v : {s.N, s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h,
                    s.dilation_w, s.groups})
    k += ' ' + std::to_string(v);
  return k + (bias ? " b" : "");
}

// The blocked copies and scratchpads of every cached convolution, one buffer grown to the largest
// call: calls run one at a time and end with stream.wait(), so they can all share it.
struct Workspace {
  std::shared_ptr<char> buffer;
  size_t size = 0;
  char* reserve(size_t bytes) {
    if (bytes > size) {
      size = (bytes + 4095) / 4096 * 4096;
      buffer.reset(static_cast<char*>(std::aligned_alloc(4096, size)), std::free);
      CHECK(buffer, "conv2d: cannot allocate a workspace of ", size, " bytes");
    }
    return buffer.get();
  }
};

// One tensor argument of a primitive: the caller's plain buffer, bound on each call, and, when the
// primitive computes in another layout, its own copy (in the workspace) and the reorder between them.
struct Operand {
  int arg = 0;          // DNNL_ARG_*
  bool output = false;  // written by the primitive: reordered back to the caller after it runs
  memory user;          // plain layout
  memory inner;         // what the primitive reads or writes: `user` itself when not reordered
  dnnl::reorder reorder;
  bool reordered = false;
};

// `same_bytes`: another description of the caller's buffer, taken when it is what the primitive wants
// (nChw16c for channels-last activations of exactly 16 channels: the same memory as nhwc).
Operand make_operand(int arg, bool output, const memory::desc& plain, const memory::desc& wanted,
                     const dnnl::engine& eng, const memory::desc& same_bytes = memory::desc()) {
  Operand o;
  o.arg = arg;
  o.output = output;
  o.user = memory(same_bytes != memory::desc() && wanted == same_bytes ? same_bytes : plain, eng, DNNL_MEMORY_NONE);
  if (o.user.get_desc() == wanted) {
    o.inner = o.user;
    return o;
  }
  o.reordered = true;
  o.inner = memory(wanted, eng, DNNL_MEMORY_NONE);
  o.reorder = output ? dnnl::reorder(o.inner, o.user) : dnnl::reorder(o.user, o.inner);
  return o;
}

// A primitive ready to run on any buffers of its shape.
struct Entry {
  dnnl::primitive primitive;
  std::string impl;  // oneDNN's implementation name, e.g. "jit:avx512_core"
  std::vector<Operand> operands;
  memory scratchpad;
  size_t scratchpad_bytes = 0;
  std::unordered_map<int, memory> args;

  bool plain() const {
    for (const Operand& o : operands)
      if (o.reordered) return false;
    return true;
  }
};

constexpr size_t round64(size_t n) { return (n + 63) / 64 * 64; }

Entry finish_entry(dnnl::primitive primitive, const char* impl, std::vector<Operand> operands,
                   const memory::desc& scratchpad, const dnnl::engine& eng) {
  Entry e;
  e.primitive = std::move(primitive);
  e.impl = impl;
  e.operands = std::move(operands);
  e.scratchpad_bytes = scratchpad.get_size();
  if (e.scratchpad_bytes > 0) {
    e.scratchpad = memory(scratchpad, eng, DNNL_MEMORY_NONE);
    e.args[DNNL_ARG_SCRATCHPAD] = e.scratchpad;
  }
  for (const Operand& o : e.operands) e.args[o.arg] = o.inner;
  return e;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

bool is_reference(const char* impl) { return std::strncmp(impl, "ref", 3) == 0; }

// Builds the primitive descriptor of the requested kind, or of the preferred kind when automatic.
// What oneDNN does not implement falls back to direct blocked: Winograd outside its shapes (creation
// throws), and, when automatic, a plain choice that only oneDNN's reference loops implement.
template <class Make>
auto choose(ConvImpl impl, Kind preferred, bool channels_last, Make&& make) {
  const Kind kind = impl == ConvImpl::automatic ? preferred
                    : impl == ConvImpl::plain   ? Kind::plain
                    : impl == ConvImpl::winograd ? Kind::winograd
                    : impl == ConvImpl::nhwc     ? Kind::nhwc
                                                 : Kind::blocked;
  if (kind == Kind::winograd) {
    try {
      return make(Kind::winograd);
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented) throw;
    }
    return make(channels_last && impl == ConvImpl::automatic ? Kind::nhwc : Kind::blocked);
  }
  auto pd = make(kind);
  if (impl == ConvImpl::automatic && (kind == Kind::plain || kind == Kind::nhwc) && is_reference(pd.impl_info_str())) {
    auto blocked = make(Kind::blocked);
    if (!is_reference(blocked.impl_info_str())) return blocked;
  }
  return pd;
}

// An input two consecutive calls reorder alike (dy in backward-data and backward-weights): its
// reordered copy sits at the start of the workspace, written by the first call, read by the second.
struct Shared {
  int arg;       // DNNL_ARG_* of the operand in both entries
  size_t bytes;  // its reordered size, rounded
  bool fill;     // the first call reorders into it; the second finds it there
};

const Operand* find_operand(const Entry& e, int arg) {
  for (const Operand& o : e.operands)
    if (o.arg == arg) return &o;
  return nullptr;
}

// Workspace bytes a call needs besides a shared operand (scratchpad and its other reordered copies).
size_t private_bytes(const Entry& e, int shared_arg) {
  size_t need = round64(e.scratchpad_bytes);
  for (const Operand& o : e.operands)
    if (o.reordered && o.arg != shared_arg) need += round64(o.inner.get_desc().get_size());
  return need;
}

Workspace& workspace(DnnlState& st) {
  return *st.cached<std::shared_ptr<Workspace>>("conv workspace", [] { return std::make_shared<Workspace>(); });
}

// Binds the caller's pointers (in operand order), runs reorders in, the primitive, reorders out.
void run(DnnlState& st, Entry& e, std::initializer_list<const void*> pointers, const Shared* shared = nullptr) {
  const int shared_arg = shared ? shared->arg : 0;
  const size_t shared_bytes = shared ? shared->bytes : 0;
  char* base = workspace(st).reserve(shared_bytes + private_bytes(e, shared_arg));
  char* at = base + shared_bytes;
  if (e.scratchpad_bytes > 0) {
    e.scratchpad.set_data_handle(at);
    at += round64(e.scratchpad_bytes);
  }
  auto p = pointers.begin();
  for (Operand& o : e.operands) {
    o.user.set_data_handle(const_cast<void*>(*p++));  // inputs are only read
    if (!o.reordered) continue;
    if (o.arg == shared_arg) {
      o.inner.set_data_handle(base);
    } else {
      o.inner.set_data_handle(at);
      at += round64(o.inner.get_desc().get_size());
    }
  }
  for (Operand& o : e.operands)
    if (o.reordered && !o.output && (o.arg != shared_arg || shared->fill)) o.reorder.execute(st.stream, o.user, o.inner);
  e.primitive.execute(st.stream, e.args);
  for (Operand& o : e.operands)
    if (o.reordered && o.output) o.reorder.execute(st.stream, o.inner, o.user);
  st.stream.wait();
}

struct Descs {
  memory::desc src, weights, bias, dst;
};

// The data types a primitive computes in: all f32, or with bf16 (mixed precision) the operands
// it reads in bf16 and what it writes in f32, or in bf16 where the caller's buffer is bf16 (oneDNN
// accumulates in f32 either way).
struct Types {
  dt src = f32, weights = f32, dst = f32;
};
constexpr Types kF32{};
Types forward_types(bool low, const Conv2dShape& s) {  // reads src, weights; writes dst
  return low ? Types{bf16, bf16, s.y_bf16 ? bf16 : f32} : kF32;
}
Types backward_data_types(bool low, const Conv2dShape& s) {  // reads weights, diff_dst; writes diff_src
  return low ? Types{s.x_bf16 ? bf16 : f32, bf16, bf16} : kF32;
}
Types backward_weights_types(bool low) { return low ? Types{bf16, f32, bf16} : kF32; }  // writes diff_weights
// The caller's buffers: activations as the shape says, weights and bias f32
Types user_types(const Conv2dShape& s) { return {s.x_bf16 ? bf16 : f32, f32, s.y_bf16 ? bf16 : f32}; }

// Plain layouts are the caller's (activations in `act`: nchw or nhwc); `any` lets oneDNN pick
// (blocked for its jit kernels); Kind::nhwc fixes the activations to nhwc and lets it pick the
// weights' layout. Bias is always plain f32; an empty desc means no bias.
Descs descs(const Geometry& g, Kind kind, bool bias, Types t = kF32, tag act = tag::nchw) {
  const bool plain = kind == Kind::plain;
  const tag a = plain ? act : kind == Kind::nhwc ? tag::nhwc : tag::any;
  return {memory::desc(g.src, t.src, a), memory::desc(g.weights, t.weights, plain ? g.weights_tag : tag::any),
          bias ? memory::desc(g.bias, f32, tag::x) : memory::desc(), memory::desc(g.dst, t.dst, a)};
}
tag act_tag(const Conv2dShape& s) { return s.channels_last ? tag::nhwc : tag::nchw; }
// A channels-last buffer of 16 channels seen as nChw16c (the same bytes), for make_operand
memory::desc as_blocked16(const memory::dims& dims, int64_t channels, bool channels_last, dt type) {
  return channels_last && channels == 16 ? memory::desc(dims, type, tag::nChw16c) : memory::desc();
}

dnnl::algorithm algorithm_of(Kind kind) {
  return kind == Kind::winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
}

dnnl::convolution_forward::primitive_desc forward_pd(DnnlState& st, const Geometry& g, Kind kind, bool bias,
                                                      Types t, tag act) {
  Descs d = descs(g, kind, bias, t, act);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, algorithm_of(kind), d.src,
                                       d.weights, d.bias, d.dst, g.strides, g.dilates, g.pad_l, g.pad_r);
  return {desc, user_scratchpad(), st.engine};
}

Entry& forward_entry(DnnlState& st, const Conv2dShape& s, bool bias, ConvImpl impl, bool low) {
  return st.cached<Entry>(cache_key("conv fwd", s, bias, impl, low), [&] {
    Geometry g = geometry(s);
    const Types t = forward_types(low, s), u = user_types(s);
    auto pd = choose(impl, preferred_forward(s, low), s.channels_last, [&](Kind kind) { return forward_pd(st, g, kind, bias, t, act_tag(s)); });
    Descs user = descs(g, Kind::plain, bias, u, act_tag(s));
    std::vector<Operand> ops{
        make_operand(DNNL_ARG_SRC, false, user.src, pd.src_desc(), st.engine,
                     as_blocked16(g.src, s.C, s.channels_last, u.src)),
        make_operand(DNNL_ARG_WEIGHTS, false, user.weights, pd.weights_desc(), st.engine)};
    if (bias) ops.push_back(make_operand(DNNL_ARG_BIAS, false, user.bias, pd.bias_desc(), st.engine));
    ops.push_back(make_operand(DNNL_ARG_DST, true, user.dst, pd.dst_desc(), st.engine,
                               as_blocked16(g.dst, s.OC, s.channels_last, u.dst)));
    return finish_entry(dnnl::convolution_forward(pd), pd.impl_info_str(), std::move(ops), pd.scratchpad_desc(),
                        st.engine);
  });
}

Entry& backward_data_entry(DnnlState& st, const Conv2dShape& s, ConvImpl impl, bool low) {
  return st.cached<Entry>(cache_key("conv bwd_data", s, false, impl, low), [&] {
    Geometry g = geometry(s);
    const Types t = backward_data_types(low, s), u = user_types(s);
    auto pd = choose(impl, preferred_backward_data(s), s.channels_last, [&](Kind kind) {
      Descs d = descs(g, kind, false, t, act_tag(s));
      dnnl::convolution_backward_data::desc desc(algorithm_of(kind), d.src, d.weights, d.dst, g.strides, g.dilates,
                                                 g.pad_l, g.pad_r);
      return dnnl::convolution_backward_data::primitive_desc(
          desc, user_scratchpad(), st.engine, forward_pd(st, g, kind, false, forward_types(low, s), act_tag(s)));
    });
    Descs user = descs(g, Kind::plain, false, u, act_tag(s));
    std::vector<Operand> ops{make_operand(DNNL_ARG_WEIGHTS, false, user.weights, pd.weights_desc(), st.engine),
                             make_operand(DNNL_ARG_DIFF_DST, false, user.dst, pd.diff_dst_desc(), st.engine,
                                          as_blocked16(g.dst, s.OC, s.channels_last, u.dst)),
                             make_operand(DNNL_ARG_DIFF_SRC, true, user.src, pd.diff_src_desc(), st.engine,
                                          as_blocked16(g.src, s.C, s.channels_last, u.src))};
    return finish_entry(dnnl::convolution_backward_data(pd), pd.impl_info_str(), std::move(ops),
                        pd.scratchpad_desc(), st.engine);
  });
}

Entry& backward_weights_entry(DnnlState& st, const Conv2dShape& s, bool bias, ConvImpl impl, bool low) {
  return st.cached<Entry>(cache_key("conv bwd_weights", s, bias, impl, low), [&] {
    Geometry g = geometry(s);
    const Types t = backward_weights_types(low), u = user_types(s);
    auto pd = choose(impl, preferred_backward_weights(s, low), s.channels_last, [&](Kind kind) {
      Descs d = descs(g, kind, bias, t, act_tag(s));
      dnnl::convolution_backward_weights::desc desc(algorithm_of(kind), d.src, d.weights, d.bias, d.dst, g.strides,
                                                    g.dilates, g.pad_l, g.pad_r);
      return dnnl::convolution_backward_weights::primitive_desc(
          desc, user_scratchpad(), st.engine, forward_pd(st, g, kind, bias, forward_types(low, s), act_tag(s)));
    });
    Descs user = descs(g, Kind::plain, bias, u, act_tag(s));
    std::vector<Operand> ops{make_operand(DNNL_ARG_SRC, false, user.src, pd.src_desc(), st.engine,
                                          as_blocked16(g.src, s.C, s.channels_last, u.src)),
                             make_operand(DNNL_ARG_DIFF_DST, false, user.dst, pd.diff_dst_desc(), st.engine,
                                          as_blocked16(g.dst, s.OC, s.channels_last, u.dst)),
                             make_operand(DNNL_ARG_DIFF_WEIGHTS, true, user.weights, pd.diff_weights_desc(), st.engine)};
    if (bias)
      ops.push_back(make_operand(DNNL_ARG_DIFF_BIAS, true, user.bias, pd.diff_bias_desc(), st.engine));
    return finish_entry(dnnl::convolution_backward_weights(pd), pd.impl_info_str(), std::move(ops),
                        pd.scratchpad_desc(), st.engine);
  });
}

// Whether a call computes in bf16 (mixed precision on): only with at least 16 input channels per
// group. NOTE: with fewer (a network's first layer: 1 or 3 channels) a bf16 call is no faster, since
// converting the input costs as much as the products (CNN conv1 1->32 forward, bench_conv: f32 gemm
// on the caller's buffers vs bf16 with a reorder: 2x slower), and the first layer sees raw pixels.
bool use_bf16(const DnnlRuntime& rt, const Conv2dShape& s) { return rt.bf16() && s.C / s.groups >= 16; }

// oneDNN reports failures as dnnl::error; ours name the direction and the shape.
template <class F>
void guarded(const char* direction, const Conv2dShape& s, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(detail::concat("conv2d ", direction, ": oneDNN failed (", e.what(), ") for input (", s.N, ",", s.C, ",",
                               s.H, ",", s.W, "), weight (", s.OC, ",", s.C / s.groups, ",", s.KH, ",", s.KW,
                               "), stride (", s.stride_h, ",", s.stride_w, "), padding (", s.pad_h, ",", s.pad_w,
                               "), dilation (", s.dilation_h, ",", s.dilation_w, "), groups ", s.groups));
  }
}

}  // namespace

void conv2d_forward(DnnlRuntime& rt, const void* x, const float* w, const float* b, void* y, const Conv2dShape& s,
                    ConvImpl impl) {
  guarded("forward", s, [&] {
    DnnlState& st = rt.state();
    Entry& e = forward_entry(st, s, b != nullptr, impl, use_bf16(rt, s));
    if (b)
      run(st, e, {x, w, b, y});
    else
      run(st, e, {x, w, y});
  });
}

void conv2d_backward_data(DnnlRuntime& rt, const float* w, const void* dy, void* dx, const Conv2dShape& s,
                          ConvImpl impl) {
  guarded("backward-data", s, [&] {
    DnnlState& st = rt.state();
    run(st, backward_data_entry(st, s, impl, use_bf16(rt, s)), {w, dy, dx});
  });
}

void conv2d_backward_weights(DnnlRuntime& rt, const void* x, const void* dy, float* dw, float* db,
                             const Conv2dShape& s, ConvImpl impl) {
  guarded("backward-weights", s, [&] {
    DnnlState& st = rt.state();
    Entry& e = backward_weights_entry(st, s, db != nullptr, impl, use_bf16(rt, s));
    if (db)
      run(st, e, {x, dy, dw, db});
    else
      run(st, e, {x, dy, dw});
  });
}

void conv2d_backward(DnnlRuntime& rt, const void* x, const float* w, const void* dy, void* dx, float* dw,
                     float* db, const Conv2dShape& s, ConvImpl impl) {
  if (!dx || !dw) {
    if (dx) conv2d_backward_data(rt, w, dy, dx, s, impl);
    if (dw) conv2d_backward_weights(rt, x, dy, dw, db, s, impl);
    else if (db) conv2d_backward_bias(dy, db, s);
    return;
  }
  guarded("backward", s, [&] {
    DnnlState& st = rt.state();
    const bool low = use_bf16(rt, s);
    Entry& d = backward_data_entry(st, s, impl, low);
    Entry& g = backward_weights_entry(st, s, db != nullptr, impl, low);
    const Operand* od = find_operand(d, DNNL_ARG_DIFF_DST);
    const Operand* og = find_operand(g, DNNL_ARG_DIFF_DST);
    const bool share = od && og && od->reordered && og->reordered && od->inner.get_desc() == og->inner.get_desc();
    if (!share) {
      run(st, d, {w, dy, dx});
      if (db) run(st, g, {x, dy, dw, db});
      else run(st, g, {x, dy, dw});
      return;
    }
    const size_t bytes = round64(od->inner.get_desc().get_size());
    // reserve for both calls first: a workspace grown between them would lose the shared copy
    workspace(st).reserve(bytes + std::max(private_bytes(d, DNNL_ARG_DIFF_DST), private_bytes(g, DNNL_ARG_DIFF_DST)));
    const Shared first{DNNL_ARG_DIFF_DST, bytes, true}, second{DNNL_ARG_DIFF_DST, bytes, false};
    run(st, d, {w, dy, dx}, &first);
    if (db) run(st, g, {x, dy, dw, db}, &second);
    else run(st, g, {x, dy, dw}, &second);
  });
}

namespace {
template <class T>
void backward_bias(const T* dy, float* db, const Conv2dShape& s) {
  const int64_t plane = s.OH * s.OW;
  if (s.channels_last) {  // dy: (N*OH*OW, OC) rows
#pragma omp parallel for if (s.N * s.OC * plane > 65536)
    for (int64_t oc = 0; oc < s.OC; ++oc) {
      double sum = 0;
      for (int64_t r = 0; r < s.N * plane; ++r) sum += load_f32(dy[r * s.OC + oc]);
      db[oc] = static_cast<float>(sum);
    }
    return;
  }
#pragma omp parallel for if (s.N * s.OC * plane > 65536)
  for (int64_t oc = 0; oc < s.OC; ++oc) {
    double sum = 0;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* p = dy + (n * s.OC + oc) * plane;
      for (int64_t i = 0; i < plane; ++i) sum += load_f32(p[i]);
    }
    db[oc] = static_cast<float>(sum);
  }
}
}  // namespace

void conv2d_backward_bias(const void* dy, float* db, const Conv2dShape& s) {
  if (s.y_bf16)
    backward_bias(static_cast<const cvtrain::bf16*>(dy), db, s);
  else
    backward_bias(static_cast<const float*>(dy), db, s);
}

Conv2dImplInfo conv2d_impl_info(DnnlRuntime& rt, const Conv2dShape& s, bool bias, ConvImpl impl) {
  DnnlState& st = rt.state();
  Entry& f = forward_entry(st, s, bias, impl, use_bf16(rt, s));
  Entry& d = backward_data_entry(st, s, impl, use_bf16(rt, s));
  Entry& w = backward_weights_entry(st, s, bias, impl, use_bf16(rt, s));
  return {f.impl.c_str(), d.impl.c_str(), w.impl.c_str(), f.plain(), d.plain(), w.plain()};
}

}  // namespace cvtrain::cpu
