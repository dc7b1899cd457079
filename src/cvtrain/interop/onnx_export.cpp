// The ONNX exporter: a small graph builder over onnx::GraphProto, the emitters of each module type,
// and the table (rules()) that maps a module's type() to its emitter. Composite modules (the zoo's
// model classes, residual blocks) have emitters too, because their forward is code, not a list.
// Not an importer: weights come back into cvtrain as safetensors (model.init_from).
#include "cvtrain/interop/onnx_export.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include <onnx/onnx_pb.h>

#include "cvtrain/base/files.h"
#include "cvtrain/nn/activations.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/resnet.h"

namespace cvtrain::interop {
namespace {

constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 7;  // the IR of opset 13 (ONNX 1.8): readable by older runtimes

// A value of the graph: its name and its rank (PReLU's slope broadcasts differently on (N,C) and (N,C,H,W)).
struct Value {
  std::string name;
  int64_t rank = 4;
};

// Appends nodes and initializers to a GraphProto with unique names.
class Graph {
 public:
  explicit Graph(onnx::GraphProto* g) : g_(g) {}

  // An f32 initializer (its bytes copied little-endian into raw_data); returns its name.
  std::string init(const std::string& name, const std::vector<float>& v, const Shape& shape) {
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(unique(name));
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) t->add_dims(d);
    CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), "onnx init ", name, ": ", v.size(), " values for ",
          shape_str(shape));
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return t->name();
  }
  std::string init(const std::string& name, const Tensor& x, const Shape& shape) {
    CHECK(x.dtype() == DType::f32, "onnx init ", name, ": expected f32, got ", x.describe());
    return init(name, x.to_vector(), shape);
  }
  std::string init(const std::string& name, const Tensor& x) { return init(name, x, x.shape()); }
  std::string init_i64(const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(unique(name));
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return t->name();
  }

  // A node with one output named after `hint`; "" inputs stay empty (optional inputs).
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& hint) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(unique(hint + "/" + op));
    for (const std::string& in : inputs) n->add_input(in);
    n->add_output(unique(hint.empty() ? op : hint + ":" + op));
    return n;
  }
  std::string op(const std::string& op, const std::vector<std::string>& inputs, const std::string& hint) {
    return node(op, inputs, hint)->output(0);
  }

  onnx::GraphProto* proto() { return g_; }

 private:
  std::string unique(const std::string& base) {
    int64_t& n = used_[base];
    return n++ == 0 ? base : base + "_" + std::to_string(n - 1);
  }
  onnx::GraphProto* g_;
  std::map<std::string, int64_t> used_;
};

void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

std::string join(const std::string& path, const std::string& name) { return path.empty() ? name : path + "." + name; }

class Walker;
using EmitFn = Value (*)(Walker& w, nn::Module& m, const std::string& path, Value x);

struct OnnxRule {
  const char* module_type;
  const char* onnx_nodes;  // what the module becomes, for docs/interop.md and errors
  EmitFn emit;
};
const std::vector<OnnxRule>& rules();

class Walker {
 public:
  Walker(Graph& g, const OnnxExportOptions& o) : g(g), opt(o) {}

  // The one dispatch: the module's type picks its rule.
  Value emit(nn::Module& m, const std::string& path, Value x) {
    for (const OnnxRule& r : rules())
      if (m.type() == r.module_type) return r.emit(*this, m, path, x);
    std::string known;
    for (const OnnxRule& r : rules()) known += (known.empty() ? "" : ", ") + std::string(r.module_type);
    fail_input("onnx export: module '", path.empty() ? "(model)" : path, "' of type ", m.type(),
               " has no ONNX rule (known types: ", known, ")");
  }

  Graph& g;
  const OnnxExportOptions& opt;
  int64_t classes = -1;  // out_features of the last Linear: the logits' width
};

std::shared_ptr<nn::Module> child(nn::Module& m, const std::string& name) {
  for (const auto& [n, c] : m.children())
    if (n == name) return c;
  return nullptr;
}

// ---- leaves ----

// Conv (and with `bn`, the batch norm folded in: W' = W g/sqrt(v+eps), b' = (b - mu) g/sqrt(v+eps) + beta,
// Ioffe & Szegedy 2015 eq. of the inference transform).
Value emit_conv(Walker& w, nn::Conv2d& conv, const std::string& path, Value x, nn::BatchNorm2d* bn = nullptr,
                const std::string& bn_path = "") {
  const Tensor& weight = conv.weight.data();  // (OC, C/groups, K, K)
  const int64_t OC = weight.size(0), K = weight.size(2);
  std::string wname, bname;
  if (!bn) {
    wname = w.g.init(join(path, "weight"), weight);
    if (conv.bias.defined()) bname = w.g.init(join(path, "bias"), conv.bias.data());
  } else {
    const double eps = bn->eps();
    std::vector<float> wv = weight.to_vector(), bv(static_cast<size_t>(OC), 0.0f);
    if (conv.bias.defined()) bv = conv.bias.data().to_vector();
    const std::vector<float> g = bn->weight.data().to_vector(), beta = bn->bias.data().to_vector();
    const std::vector<float> mu = bn->running_mean.to_vector(), var = bn->running_var.to_vector();
    const int64_t per_oc = weight.numel() / OC;
    for (int64_t o = 0; o < OC; ++o) {
      const double s = g[o] / std::sqrt(static_cast<double>(var[o]) + eps);
      for (int64_t i = 0; i < per_oc; ++i) wv[o * per_oc + i] = static_cast<float>(wv[o * per_oc + i] * s);
      bv[o] = static_cast<float>((bv[o] - mu[o]) * s + beta[o]);
    }
    wname = w.g.init(join(path, "weight") + "+" + bn_path, wv, weight.shape());
    bname = w.g.init(join(path, "bias") + "+" + bn_path, bv, {OC});
  }
  std::vector<std::string> in = {x.name, wname};
  if (!bname.empty()) in.push_back(bname);
  onnx::NodeProto* n = w.g.node("Conv", in, path);
  const nn::Conv2dOptions& o = conv.options();
  const int64_t s = o.stride(), p = o.padding(), d = o.dilation();
  attr(n, "kernel_shape", std::vector<int64_t>{K, K});
  attr(n, "strides", std::vector<int64_t>{s, s});
  attr(n, "pads", std::vector<int64_t>{p, p, p, p});
  attr(n, "dilations", std::vector<int64_t>{d, d});
  attr(n, "group", o.groups());
  return {n->output(0), 4};
}

Value conv_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  return emit_conv(w, dynamic_cast<nn::Conv2d&>(m), path, x);
}

Value batchnorm_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto& bn = dynamic_cast<nn::BatchNorm2d&>(m);
  onnx::NodeProto* n = w.g.node("BatchNormalization",
                                {x.name, w.g.init(join(path, "weight"), bn.weight.data()),
                                 w.g.init(join(path, "bias"), bn.bias.data()),
                                 w.g.init(join(path, "running_mean"), bn.running_mean),
                                 w.g.init(join(path, "running_var"), bn.running_var)},
                                path);
  attr(n, "epsilon", bn.eps());
  return {n->output(0), x.rank};
}

Value linear_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto& fc = dynamic_cast<nn::Linear&>(m);
  CHECK(x.rank == 2, "onnx export: Linear '", path, "' sees a rank-", x.rank, " value");
  std::vector<std::string> in = {x.name, w.g.init(join(path, "weight"), fc.weight.data())};  // (out,in)
  if (fc.bias.defined()) in.push_back(w.g.init(join(path, "bias"), fc.bias.data()));
  onnx::NodeProto* n = w.g.node("Gemm", in, path);  // x W^T + b
  attr(n, "transB", int64_t{1});
  w.classes = fc.weight.data().size(0);
  return {n->output(0), 2};
}

Value maxpool_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto& pool = dynamic_cast<nn::MaxPool2d&>(m);
  const int64_t k = pool.kernel_size(), s = pool.stride(), p = pool.padding();
  onnx::NodeProto* n = w.g.node("MaxPool", {x.name}, path);
  attr(n, "kernel_shape", std::vector<int64_t>{k, k});
  attr(n, "strides", std::vector<int64_t>{s, s});
  attr(n, "pads", std::vector<int64_t>{p, p, p, p});
  return {n->output(0), 4};
}

Value flatten(Walker& w, const std::string& path, Value x) {  // (N, ...) -> (N, prod(...))
  onnx::NodeProto* n = w.g.node("Flatten", {x.name}, path);
  attr(n, "axis", int64_t{1});
  return {n->output(0), 2};
}
Value flatten_rule(Walker& w, nn::Module&, const std::string& path, Value x) { return flatten(w, path, x); }

Value global_avg_pool(Walker& w, const std::string& path, Value x) {  // (N,C,H,W) -> (N,C)
  return flatten(w, path, {w.g.op("GlobalAveragePool", {x.name}, path), 4});
}
Value gap_rule(Walker& w, nn::Module&, const std::string& path, Value x) { return global_avg_pool(w, path, x); }

// Evaluation: inverted dropout is the identity; the original form scales by (1 - p) (ops/dropout.h).
Value dropout_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto& d = dynamic_cast<nn::Dropout&>(m);
  if (d.mode() == ops::DropoutMode::inverted) return x;
  const auto keep = static_cast<float>(1.0 - static_cast<double>(d.p()));
  return {w.g.op("Mul", {x.name, w.g.init(join(path, "keep"), {keep}, {})}, path), x.rank};
}

// ---- activations: their rows (nn/activations.h) say what they become ----

// nn::OnnxGraph over this graph, naming nodes and constants after the layer's path.
class LayerGraph : public nn::OnnxGraph {
 public:
  LayerGraph(Graph& g, const std::string& path) : g_(g), path_(path) {}
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::vector<std::pair<std::string, float>>& attrs) override {
    onnx::NodeProto* n = g_.node(op, inputs, path_);
    for (const auto& [name, v] : attrs) attr(n, name, v);
    return n->output(0);
  }
  std::string constant(const std::string& name, const std::vector<float>& values, const Shape& shape) override {
    return g_.init(join(path_, name), values, shape);
  }

 private:
  Graph& g_;
  const std::string& path_;
};

Value activation_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  for (const nn::ActivationEntry& e : nn::activation_registry())
    if (e.type == m.type()) {
      LayerGraph g(w.g, path);
      return {e.onnx(g, m, x.name, x.rank), x.rank};
    }
  CHECK(false, "onnx export: ", m.type(), " is not an activation");
  return x;
}

// ---- containers and the zoo's model classes ----

// Children in order; with fold_batchnorm, a Conv2d directly followed by a BatchNorm2d becomes one Conv.
Value sequence_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  const auto& kids = m.children();
  for (size_t i = 0; i < kids.size(); ++i) {
    const auto& [name, c] = kids[i];
    if (w.opt.fold_batchnorm && c->type() == "Conv2d" && i + 1 < kids.size() && kids[i + 1].second->type() == "BatchNorm2d") {
      x = emit_conv(w, dynamic_cast<nn::Conv2d&>(*c), join(path, name), x,
                    &dynamic_cast<nn::BatchNorm2d&>(*kids[i + 1].second), join(path, kids[i + 1].first));
      ++i;
      continue;
    }
    x = w.emit(*c, join(path, name), x);
  }
  return x;
}

// ResNets: children in order, with F.adaptive_avg_pool2d(x, 1).flatten(1) before `fc` (resnet.cpp).
Value resnet_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  for (const auto& [name, c] : m.children()) {
    if (name == "fc") x = global_avg_pool(w, join(path, "pool"), x);
    x = w.emit(*c, join(path, name), x);
  }
  return x;
}

// A block's activation: its registered child (prelu), else rebuilt from the spec (held off the tree).
Value block_activation(Walker& w, nn::Module& block, const std::string& path, const char* name, int64_t channels,
                       Value x) {
  if (auto a = child(block, name)) return w.emit(*a, join(path, name), x);
  std::shared_ptr<nn::Module> a = nn::make_activation(w.opt.activation, channels);
  return w.emit(*a, join(path, name), x);
}

Value conv_bn(Walker& w, nn::Conv2d& conv, const std::string& cpath, nn::BatchNorm2d& bn, const std::string& bpath,
              Value x) {
  if (w.opt.fold_batchnorm) return emit_conv(w, conv, cpath, x, &bn, bpath);
  return batchnorm_rule(w, bn, bpath, emit_conv(w, conv, cpath, x));
}

// The registered name of `c` among m's children (BasicBlock names them c1/b1/... or, torchvision's way, conv1/bn1/...).
std::string child_path(nn::Module& m, const nn::Module* c, const std::string& path) {
  for (const auto& [n, k] : m.children())
    if (k.get() == c) return join(path, n);
  CHECK(false, "onnx export: a member of '", path, "' is not among its children");
  return "";
}

// He et al. 2016: y = act2(b2(c2(act1(b1(c1(x))))) + shortcut(x)); stochastic depth is the identity at evaluation.
Value basic_block_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto& b = dynamic_cast<nn::BasicBlock&>(m);
  auto at = [&](const nn::Module* c) { return child_path(m, c, path); };
  Value y = conv_bn(w, *b.c1, at(b.c1.get()), *b.b1, at(b.b1.get()), x);
  y = block_activation(w, m, path, "act1", b.out_channels, y);
  y = conv_bn(w, *b.c2, at(b.c2.get()), *b.b2, at(b.b2.get()), y);
  const Value s = b.sc ? w.emit(*b.sc, at(b.sc.get()), x) : x;
  return block_activation(w, m, path, "act2", b.out_channels, {w.g.op("Add", {y.name, s.name}, path), 4});
}

// torchvision's Bottleneck: act1(bn1(conv1)), act2(bn2(conv2)), bn3(conv3), Add with the shortcut, act3.
Value bottleneck_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto& b = dynamic_cast<nn::Bottleneck&>(m);
  Value y = conv_bn(w, *b.conv1, join(path, "conv1"), *b.bn1, join(path, "bn1"), x);
  y = block_activation(w, m, path, "act1", b.width, y);
  y = conv_bn(w, *b.conv2, join(path, "conv2"), *b.bn2, join(path, "bn2"), y);
  y = block_activation(w, m, path, "act2", b.width, y);
  y = conv_bn(w, *b.conv3, join(path, "conv3"), *b.bn3, join(path, "bn3"), y);
  const Value s = b.downsample ? w.emit(*b.downsample, join(path, "downsample"), x) : x;
  return block_activation(w, m, path, "act3", b.width * nn::Bottleneck::expansion,
                          {w.g.op("Add", {y.name, s.name}, path), 4});
}

// torchvision's ResNet (resnet.cpp TorchvisionResNet): act(bn1(conv1(x))), maxpool (absent in the
// small-image stem), layer1..4, GAP, fc.
Value torchvision_resnet_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto conv1 = std::dynamic_pointer_cast<nn::Conv2d>(child(m, "conv1"));
  auto bn1 = std::dynamic_pointer_cast<nn::BatchNorm2d>(child(m, "bn1"));
  CHECK(conv1 && bn1, "onnx export: ResNet '", path, "' has no conv1/bn1");
  x = conv_bn(w, *conv1, join(path, "conv1"), *bn1, join(path, "bn1"), x);
  x = block_activation(w, m, path, "act", bn1->weight.numel(), x);
  for (const auto& [name, c] : m.children()) {
    if (name.rfind("layer", 0) != 0 && name != "fc" && name != "maxpool") continue;
    if (name == "fc") x = global_avg_pool(w, join(path, "pool"), x);
    x = w.emit(*c, join(path, name), x);
  }
  return x;
}

// Fractional max pooling draws its pooling regions at random on every forward (Graham 2014).
Value fractional_pool_rule(Walker&, nn::Module&, const std::string& path, Value) {
  fail_input("onnx export: '", path, "' is a FractionalMaxPool2d, whose pooling regions are random per forward: ",
             "ONNX has no equivalent (train with model.pool: max to export)");
}

// He et al. 2016b: o = act1(bn1(x)); y = conv2(act2(bn2(drop(conv1(o))))) + (sc(o) or x).
Value preact_block_rule(Walker& w, nn::Module& m, const std::string& path, Value x) {
  auto& b = dynamic_cast<nn::PreActBlock&>(m);
  const Value o = block_activation(w, m, path, "act1", b.bn1->weight.numel(), w.emit(*b.bn1, join(path, "bn1"), x));
  Value y = w.emit(*b.conv1, join(path, "conv1"), o);
  if (b.drop) y = w.emit(*b.drop, join(path, "drop"), y);
  y = block_activation(w, m, path, "act2", b.bn2->weight.numel(), w.emit(*b.bn2, join(path, "bn2"), y));
  y = w.emit(*b.conv2, join(path, "conv2"), y);
  const Value s = b.sc ? w.emit(*b.sc, join(path, "sc"), o) : x;
  return {w.g.op("Add", {y.name, s.name}, path), 4};
}

// THE table: every module type the zoo builds and the ONNX nodes it becomes (the activations'
// rules come from their rows).
const std::vector<OnnxRule>& rules() {
  static const std::vector<OnnxRule> table = {
      {"Conv2d", "Conv", conv_rule},
      {"BatchNorm2d", "BatchNormalization (folded into the Conv before it with --fold-bn)", batchnorm_rule},
      {"Linear", "Gemm (transB=1)", linear_rule},
      {"MaxPool2d", "MaxPool", maxpool_rule},
      {"Flatten", "Flatten (axis=1)", flatten_rule},
      {"GlobalAvgPool", "GlobalAveragePool, Flatten", gap_rule},
      {"Dropout", "nothing (inverted); Mul by 1-p (original form)", dropout_rule},
      {"Sequential", "its children in order", sequence_rule},
      {"Block", "c1, b1, act1, c2, b2; Add with the shortcut (identity or sc); act2", basic_block_rule},
      {"BasicBlock", "as Block, torchvision's names (conv1, bn1, conv2, bn2, downsample)", basic_block_rule},
      {"Bottleneck", "conv1, bn1, act1, conv2, bn2, act2, conv3, bn3; Add with the shortcut (identity or downsample); act3",
       bottleneck_rule},
      {"PreActBlock", "bn1, act1, conv1, (drop), bn2, act2, conv2; Add with the shortcut", preact_block_rule},
      {"MLP", "net", sequence_rule},
      {"CNN", "net", sequence_rule},
      {"DeepMLP", "net", sequence_rule},
      {"LeNet5", "net", sequence_rule},
      {"VGG", "net", sequence_rule},
      {"ResidualStack", "net", sequence_rule},
      {"ResNet20", "stem, layers, GlobalAveragePool, Flatten, fc", resnet_rule},
      {"ResNet32", "as ResNet20", resnet_rule},
      {"ResNet56", "as ResNet20", resnet_rule},
      {"ResNet110", "as ResNet20", resnet_rule},
      {"PreActResNet20", "stem, layers, head, GlobalAveragePool, Flatten, fc", resnet_rule},
      {"WideResNet", "as PreActResNet20", resnet_rule},
      {"ResNet", "conv1, bn1, act, maxpool (not resnet18_small), layer1..layer4, GlobalAveragePool, Flatten, fc (resnet18/34/50, resnet18_small)",
       torchvision_resnet_rule},
      {"FractionalMaxPool2d", "none: an InputError (random pooling regions)", fractional_pool_rule},
  };
  static const std::vector<OnnxRule> with_activations = [] {
    std::vector<OnnxRule> all = table;
    for (const nn::ActivationEntry& e : nn::activation_registry()) {  // one rule per module type
      bool seen = false;
      for (const OnnxRule& r : all) seen = seen || e.type == r.module_type;
      if (!seen) all.push_back({e.type.c_str(), e.onnx_nodes, activation_rule});
    }
    return all;
  }();
  return with_activations;
}

// The first nodes: what the loader does to v/255 before the model (loader.h, preprocess.h).
Value emit_input_transform(Graph& g, const OnnxExportOptions& o, Value x) {
  const Preprocess& p = o.preprocess;
  if (p.is_channel()) {
    const auto nc = static_cast<int64_t>(o.norm.mean.size());
    if (nc != o.C || o.norm.std.size() != o.norm.mean.size())
      fail_input("onnx export: the normalization has ", nc, " channels, the input ", o.C);
    const std::string sub = g.op("Sub", {x.name, g.init("input_mean", o.norm.mean, {1, o.C, 1, 1})}, "normalize");
    return {g.op("Div", {sub, g.init("input_std", o.norm.std, {1, o.C, 1, 1})}, "normalize"), 4};
  }
  if (p.C != o.C || p.H != o.H || p.W != o.W)
    fail_input("onnx export: data.preprocess was fitted on ", p.C, "x", p.H, "x", p.W, " images, the input is ", o.C,
               "x", o.H, "x", o.W);
  // Flatten, Sub of the mean as a (D) vector, then back to (N,C,H,W): OpenCV 4.6 does not broadcast
  // a (1,C,H,W) constant over the batch. mean_image then scales each channel; the PCA modes project.
  onnx::NodeProto* flat = g.node("Flatten", {x.name}, "preprocess");
  attr(flat, "axis", int64_t{1});
  const std::string c = g.op("Sub", {flat->output(0), g.init("input_mean", p.mean, {p.in_dim()})}, "preprocess");
  if (p.mode == "mean_image") {  // (x - mean[c,h,w]) * scale[c]
    const std::string img = g.op("Reshape", {c, g.init_i64("input_shape", {-1, p.C, p.H, p.W})}, "preprocess");
    return {g.op("Mul", {img, g.init("input_scale", p.scale, {1, p.C, 1, 1})}, "preprocess"), 4};
  }
  // pca, pca_whiten, zca: matrix (K,D) times the centered flattened image, reshaped to out_shape().
  const Shape out = p.out_shape();
  onnx::NodeProto* mm = g.node("Gemm", {c, g.init("input_projection", p.matrix, {p.out_dim(), p.in_dim()})}, "preprocess");
  attr(mm, "transB", int64_t{1});
  return {g.op("Reshape", {mm->output(0), g.init_i64("input_shape", {-1, out[0], out[1], out[2]})}, "preprocess"), 4};
}

void set_value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

std::string export_onnx(nn::Module& model, const OnnxExportOptions& options) {
  CHECK(!model.training(), "export_onnx: put the model in eval mode first");
  CHECK(options.C > 0 && options.H > 0 && options.W > 0, "export_onnx: bad input shape");
  onnx::ModelProto proto;
  proto.set_ir_version(kIrVersion);
  proto.set_producer_name("cvtrain");
  proto.set_producer_version("0.1.0");
  proto.set_doc_string(options.doc);
  for (const auto& [key, value] : options.metadata) {
    onnx::StringStringEntryProto* entry = proto.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto* gp = proto.mutable_graph();
  gp->set_name(options.graph_name);
  Graph g(gp);
  Walker w(g, options);

  Value x = emit_input_transform(g, options, {"input", 4});
  x = w.emit(model, "", x);
  if (x.rank != 2 || w.classes < 0) fail_input("onnx export: the model does not end in a Linear layer");
  // The last node's output becomes "logits".
  CHECK(gp->node_size() > 0 && gp->node(gp->node_size() - 1).output(0) == x.name, "export_onnx: dangling output");
  gp->mutable_node(gp->node_size() - 1)->set_output(0, "logits");
  set_value_info(gp->add_input(), "input", {options.C, options.H, options.W});
  set_value_info(gp->add_output(), "logits", {w.classes});

  std::string bytes;
  CHECK(proto.SerializeToString(&bytes), "export_onnx: protobuf serialization failed");
  return bytes;
}

void write_onnx(const std::string& path, nn::Module& model, const OnnxExportOptions& options) {
  const std::string bytes = export_onnx(model, options);
  write_file_atomic(path, [&](std::FILE* f) { return write_all(f, bytes.data(), bytes.size()); });
}

std::vector<OnnxRuleInfo> onnx_rule_list() {
  std::vector<OnnxRuleInfo> out;
  for (const OnnxRule& r : rules()) out.push_back({r.module_type, r.onnx_nodes});
  return out;
}

}  // namespace cvtrain::interop
