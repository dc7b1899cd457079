// The zoo table and the builders of the anchor architectures.
#include "cvtrain/nn/zoo.h"

#include <algorithm>
#include <cstdlib>

#include "cvtrain/nn/fractional_pool.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/nn/resnet.h"

namespace cvtrain::nn {

namespace {

using std::make_shared;

// The anchors keep their layers in a Sequential attribute `net`: names come out "net.<i>.<param>".
// With fractional max pooling, evaluation averages the logits over spec.fmp_test_samples samplings.
class NetModel : public Module {
 public:
  NetModel(std::string type, std::shared_ptr<Sequential> net, int64_t fmp_samples = 1)
      : Module(std::move(type)), fmp_samples_(fmp_samples) {
    net_ = register_module("net", std::move(net));
  }
  Variable forward(Context& ctx, const Variable& x) override {
    return average_over_samplings(ctx, *net_, x, fmp_samples_);
  }

 private:
  std::shared_ptr<Sequential> net_;
  int64_t fmp_samples_;
};

// model.pool: MaxPool2d(2), or fractional max pooling (Graham 2014) by model.fmp_ratio; h and w
// become the pooled size. index: the FMP layer's number within the model.
std::shared_ptr<Module> pool_layer(const ModelSpec& spec, int64_t& h, int64_t& w, int64_t index) {
  if (spec.pool == "max") {
    h /= 2, w /= 2;
    return make_shared<MaxPool2d>(2);
  }
  if (h < 2 || w < 2) fail_input("model.pool: fractional pooling needs at least 2x2 maps, got ", h, "x", w);
  FmpOptions opt{spec.fmp_ratio, spec.fmp_overlapping, ops::fmp_sequence_from_name(spec.fmp_sequence)};
  auto fmp = make_shared<FractionalMaxPool2d>(opt, index);
  h = fmp->out_size(h), w = fmp->out_size(w);
  return fmp;
}

float dropout_or(const ModelSpec& spec, float fallback) { return spec.dropout < 0 ? fallback : static_cast<float>(spec.dropout); }

std::shared_ptr<Module> act(const ModelSpec& spec, int64_t channels) { return make_activation(spec.activation, channels); }

// class MLP: Flatten, Linear(784,512), ReLU, Dropout(0.2), Linear(512,256), ReLU, Dropout(0.2), Linear(256,10)
std::shared_ptr<Module> build_mlp(const ModelSpec& spec, Rng& rng) {
  float p = dropout_or(spec, 0.2f);
  auto net = make_shared<Sequential>();
  net->add(make_shared<Flatten>());
  net->add(make_shared<Linear>(rng, spec.in_channels * spec.height * spec.width, 512));
  net->add(act(spec, 512));
  net->add(make_shared<Dropout>(p));
  net->add(make_shared<Linear>(rng, 512, 256));
  net->add(act(spec, 256));
  net->add(make_shared<Dropout>(p));
  net->add(make_shared<Linear>(rng, 256, spec.num_classes));
  return make_shared<NetModel>("MLP", net);
}

// class CNN: two blocks of Conv2d(3x3, pad 1, no bias), BatchNorm2d, ReLU, MaxPool2d(2), then
// Flatten, Linear(64*H/4*W/4, 128), ReLU, Dropout(0.5), Linear(128, 10).
std::shared_ptr<Module> build_cnn(const ModelSpec& spec, Rng& rng) {
  if (spec.height < 4 || spec.width < 4)
    fail_input("model.height/model.width: cnn needs images of at least 4x4, got ", spec.height, "x", spec.width);
  float p = dropout_or(spec, 0.5f);
  auto net = make_shared<Sequential>();
  int64_t h = spec.height, w = spec.width;
  // model.batch_norm false: the convs get a bias instead of the BatchNorm after them
  net->add(make_shared<Conv2d>(rng, Conv2dOptions(spec.in_channels, 32, 3).padding(1).bias(!spec.batch_norm)));
  if (spec.batch_norm) net->add(make_shared<BatchNorm2d>(32));
  net->add(act(spec, 32));
  net->add(pool_layer(spec, h, w, 0));
  net->add(make_shared<Conv2d>(rng, Conv2dOptions(32, 64, 3).padding(1).bias(!spec.batch_norm)));
  if (spec.batch_norm) net->add(make_shared<BatchNorm2d>(64));
  net->add(act(spec, 64));
  net->add(pool_layer(spec, h, w, 1));
  net->add(make_shared<Flatten>());
  // each MaxPool2d(2) floors: 28 -> 14 -> 7 (fractional by sqrt(2): 28 -> 19 -> 13)
  net->add(make_shared<Linear>(rng, 64 * h * w, 128));
  net->add(act(spec, 128));
  net->add(make_shared<Dropout>(p));
  net->add(make_shared<Linear>(rng, 128, spec.num_classes));
  return make_shared<NetModel>("CNN", net, spec.fmp_test_samples);
}

// The lecture's deep perceptron for watching activations through depth: Flatten, then model.depth
// times Linear(model.width) and the activation, then Linear(model.width, classes). No dropout.
std::shared_ptr<Module> build_deep_mlp(const ModelSpec& spec, Rng& rng) {
  auto net = make_shared<Sequential>();
  net->add(make_shared<Flatten>());
  int64_t in = spec.in_channels * spec.height * spec.width;
  for (int64_t i = 0; i < spec.depth; ++i) {
    net->add(make_shared<Linear>(rng, in, spec.hidden_width));
    net->add(act(spec, spec.hidden_width));
    in = spec.hidden_width;
  }
  net->add(make_shared<Linear>(rng, in, spec.num_classes));
  return make_shared<NetModel>("DeepMLP", net);
}

// He et al. 2016, section 4.2: depth 6n+2 (class ResNet20 of the anchors for n = 3).
auto cifar_resnet(int64_t n) {
  return [n](const ModelSpec& spec, Rng& rng) {
    return make_cifar_resnet(rng, n, spec.in_channels, spec.num_classes, spec.activation);
  };
}

// He et al. 2016b (identity mappings): depth 6n+2 with pre-activation blocks; no dropout by default.
std::shared_ptr<Module> build_preact_resnet20(const ModelSpec& spec, Rng& rng) {
  return make_preact_resnet(rng, 3, 1, spec.in_channels, spec.num_classes, spec.activation, dropout_or(spec, 0.0f),
                            "PreActResNet20");
}

// Zagoruyko & Komodakis 2016: WRN-16-4, n = (16-4)/6 = 2 blocks per stage, widths 64/128/256;
// model.dropout between the convs of each block (the paper's 0.3 is an option; default 0).
std::shared_ptr<Module> build_wrn_16_4(const ModelSpec& spec, Rng& rng) {
  return make_preact_resnet(rng, 2, 4, spec.in_channels, spec.num_classes, spec.activation, dropout_or(spec, 0.0f),
                            "WideResNet");
}

// Zagoruyko & Komodakis 2016: WRN-28-10, n = (28-4)/6 = 4 blocks per stage, widths 160/320/640.
std::shared_ptr<Module> build_wrn_28_10(const ModelSpec& spec, Rng& rng) {
  return make_preact_resnet(rng, 4, 10, spec.in_channels, spec.num_classes, spec.activation, dropout_or(spec, 0.0f),
                            "WideResNet");
}

std::shared_ptr<Module> build_resnet18_small(const ModelSpec& spec, Rng& rng) {
  return make_small_resnet18(rng, spec.in_channels, spec.num_classes, spec.activation);
}

// torchvision.models.resnet{18,34,50}: the ImageNet layout, any input size from the row's min_size.
auto torchvision_resnet(int64_t depth) {
  return [depth](const ModelSpec& spec, Rng& rng) {
    return make_torchvision_resnet(rng, depth, spec.in_channels, spec.num_classes, spec.activation);
  };
}

// LeCun et al. 1998's LeNet-5 with max pooling (as common re-implementations): Conv5x5(6, pad 2),
// act, pool, Conv5x5(16), act, pool, fc 120, act, fc 84, act, fc classes. 28x28 -> 14 -> 10 -> 5.
std::shared_ptr<Module> build_lenet5(const ModelSpec& spec, Rng& rng) {
  if (spec.height < 12 || spec.width < 12)
    fail_input("model.height/model.width: lenet5 needs images of at least 12x12, got ", spec.height, "x", spec.width);
  int64_t h = spec.height, w = spec.width;
  auto net = make_shared<Sequential>();
  net->add(make_shared<Conv2d>(rng, Conv2dOptions(spec.in_channels, 6, 5).padding(2)));
  net->add(act(spec, 6));
  net->add(pool_layer(spec, h, w, 0));
  h -= 4, w -= 4;  // the unpadded conv5x5
  net->add(make_shared<Conv2d>(rng, Conv2dOptions(6, 16, 5)));
  net->add(act(spec, 16));
  net->add(pool_layer(spec, h, w, 1));
  net->add(make_shared<Flatten>());
  net->add(make_shared<Linear>(rng, 16 * h * w, 120));
  net->add(act(spec, 120));
  net->add(make_shared<Linear>(rng, 120, 84));
  net->add(act(spec, 84));
  net->add(make_shared<Linear>(rng, 84, spec.num_classes));
  return make_shared<NetModel>("LeNet5", net, spec.fmp_test_samples);
}

// VGG-style (Simonyan & Zisserman 2015, with BatchNorm as torchvision's vgg*_bn): for each width c of
// model.channels, model.stage_convs x [Conv3x3(c, pad 1), BN, act], then MaxPool2d(2); then Flatten,
// Linear(512), act, Dropout (model.dropout, 0.5), Linear(classes): one hidden fc for small images.
std::shared_ptr<Module> build_vgg(const ModelSpec& spec, Rng& rng) {
  const std::vector<int64_t>& widths = spec.channels;
  if (widths.empty()) fail_input("model.channels: give at least one stage width");
  for (int64_t c : widths)
    if (c < 1 || c > 4096) fail_input("model.channels: widths must be in [1, 4096], got ", c);
  if (spec.stage_convs < 1 || spec.stage_convs > 16)
    fail_input("model.stage_convs must be in [1, 16], got ", spec.stage_convs);
  int64_t h = spec.height, w = spec.width, cin = spec.in_channels, pools = 0;
  auto net = make_shared<Sequential>();
  for (int64_t c : widths) {
    for (int64_t i = 0; i < spec.stage_convs; ++i, cin = c) {
      net->add(make_shared<Conv2d>(rng, Conv2dOptions(cin, c, 3).padding(1)));
      if (spec.batch_norm) net->add(make_shared<BatchNorm2d>(c));
      net->add(act(spec, c));
    }
    net->add(pool_layer(spec, h, w, pools++));
  }
  if (h < 1 || w < 1)
    fail_input("model.channels: ", widths.size(), " stages halve ", spec.height, "x", spec.width, " to nothing");
  net->add(make_shared<Flatten>());
  net->add(make_shared<Linear>(rng, cin * h * w, 512));
  net->add(act(spec, 512));
  net->add(make_shared<Dropout>(dropout_or(spec, 0.5f)));
  net->add(make_shared<Linear>(rng, 512, spec.num_classes));
  return make_shared<NetModel>("VGG", net, spec.fmp_test_samples);
}

// The lecture's deep residual stack: model.depth blocks of 16 channels at full resolution.
std::shared_ptr<Module> build_resnet_stack(const ModelSpec& spec, Rng& rng) {
  return make_residual_stack(rng, spec.depth, 16, spec.in_channels, spec.num_classes, spec.activation);
}

}  // namespace

namespace {
double deep_mlp_parameters(const ModelSpec& s) {
  const double in = static_cast<double>(s.in_channels * s.height * s.width), w = static_cast<double>(s.hidden_width);
  return in * w + static_cast<double>(s.depth - 1) * w * w + w * static_cast<double>(s.num_classes);
}

double vgg_parameters(const ModelSpec& s) {
  double n = 0, cin = static_cast<double>(s.in_channels);
  int64_t h = s.height, w = s.width;
  for (int64_t c : s.channels) {
    n += 9.0 * static_cast<double>(c) * (cin + static_cast<double>(s.stage_convs - 1) * static_cast<double>(c));
    cin = static_cast<double>(c);
    if (s.pool == "max") h /= 2, w /= 2;  // the sizes pool_layer makes
    else if (h >= 2 && w >= 2)
      h = ops::fmp_output_size(h, s.fmp_ratio, s.fmp_overlapping), w = ops::fmp_output_size(w, s.fmp_ratio, s.fmp_overlapping);
  }
  return n + cin * static_cast<double>(std::max<int64_t>(h * w, 1)) * 512 + 512.0 * static_cast<double>(s.num_classes);
}
}  // namespace

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> table = {
      {"mlp", "perceptron: flatten, fc 512, fc 256, fc classes; ReLU, dropout 0.2 (anchor class MLP)", build_mlp},
      {"cnn", "two conv3x3-BN-ReLU-maxpool blocks (32, 64), fc 128, dropout 0.5 (anchor class CNN)", build_cnn, {"model.pool", "model.batch_norm"}},
      {"deep_mlp", "model.depth fc layers of model.width units with model.activation (the lecture's init experiments)",
       build_deep_mlp, {"model.depth", "model.width"}, deep_mlp_parameters},
      {"resnet20", "CIFAR-style ResNet, 3 stages x 3 basic blocks (16, 32, 64), GAP, fc (anchor class ResNet20)",
       cifar_resnet(3)},
      {"resnet32", "CIFAR-style ResNet, 3 stages x 5 basic blocks (He et al. 2016)", cifar_resnet(5)},
      {"resnet56", "CIFAR-style ResNet, 3 stages x 9 basic blocks (He et al. 2016)", cifar_resnet(9)},
      {"resnet110", "CIFAR-style ResNet, 3 stages x 18 basic blocks (He et al. 2016)", cifar_resnet(18)},
      {"preact_resnet20", "pre-activation ResNet-20: 3 stages x 3 BN-act-conv blocks (16, 32, 64), BN, GAP, fc",
       build_preact_resnet20},
      {"wrn_16_4", "Wide ResNet 16-4: 3 stages x 2 pre-activation blocks (64, 128, 256), model.dropout inside",
       build_wrn_16_4},
      {"wrn_28_10", "Wide ResNet 28-10: 3 stages x 4 pre-activation blocks (160, 320, 640), model.dropout inside",
       build_wrn_28_10},
      {"resnet18_small", "ResNet-18 for small images: conv3x3 stem (no max pool), 4 stages x 2 blocks (64..512); torchvision names",
       build_resnet18_small},
      {"resnet18", "torchvision's resnet18: conv7x7/2, maxpool, 4 stages x [2,2,2,2] basic blocks (64..512), GAP, fc",
       torchvision_resnet(18), {}, nullptr, 32},
      {"resnet34", "torchvision's resnet34: conv7x7/2, maxpool, 4 stages x [3,4,6,3] basic blocks (64..512), GAP, fc",
       torchvision_resnet(34), {}, nullptr, 32},
      {"resnet50", "torchvision's resnet50 (v1.5): conv7x7/2, maxpool, [3,4,6,3] bottleneck blocks (256..2048), GAP, fc",
       torchvision_resnet(50), {}, nullptr, 32},
      {"lenet5", "LeNet-5 with max pooling: conv5x5 6, pool, conv5x5 16, pool, fc 120, fc 84", build_lenet5, {"model.pool"}},
      {"vgg", "VGG-style: stages of model.stage_convs conv3x3-BN-act at the widths model.channels, maxpool, fc 512",
       build_vgg, {"model.channels", "model.stage_convs", "model.pool", "model.batch_norm"}, vgg_parameters},
      {"resnet_stack", "conv stem, model.depth basic blocks of 16 channels, GAP, fc (the lecture's residual stack)",
       build_resnet_stack, {"model.depth"}},
  };
  return table;
}

namespace {
// model.dropout_mode applies to every Dropout layer of the model, wherever the builder put it.
// Returns the number of Dropout layers.
int64_t set_dropout_mode(Module& m, ops::DropoutMode mode) {
  int64_t n = 0;
  if (auto* d = dynamic_cast<Dropout*>(&m)) d->set_mode(mode), ++n;
  for (const auto& [name, child] : m.children()) n += set_dropout_mode(*child, mode);
  return n;
}

void collect_linear(Module& m, std::vector<Linear*>& out) {
  if (auto* l = dynamic_cast<Linear*>(&m)) out.push_back(l);
  for (const auto& [name, child] : m.children()) collect_linear(*child, out);
}

bool reads(const ModelEntry& e, const char* key) { return std::find(e.keys.begin(), e.keys.end(), key) != e.keys.end(); }

// The models whose rows read `key`, for messages.
std::string readers(const char* key) {
  std::string out;
  for (const ModelEntry& e : model_registry())
    if (reads(e, key)) out += (out.empty() ? "" : ", ") + e.name;
  return out;
}

}  // namespace

int64_t set_dropconnect(Module& model, float p) {
  std::vector<Linear*> layers;
  collect_linear(model, layers);
  if (layers.size() < 2) return 0;
  for (size_t i = 0; i + 1 < layers.size(); ++i) layers[i]->dropconnect = p;
  return static_cast<int64_t>(layers.size()) - 1;
}

namespace {
const ModelEntry& find_model(const std::string& name) {
  std::string known;
  for (const ModelEntry& e : model_registry()) {
    if (name == e.name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  fail_input("model.name: unknown model '", name, "' (known: ", known, ")");
}
}  // namespace

const std::vector<std::string>& pool_names() {
  static const std::vector<std::string> names = {"max", "fractional"};
  return names;
}
const std::vector<std::string>& drop_path_mode_names() {
  static const std::vector<std::string> names = {"sample", "batch"};
  return names;
}

void check_options(const ModelSpec& spec) {
  const ModelEntry& entry = find_model(spec.name);
  if (spec.in_channels <= 0) fail_input("model.in_channels must be positive, got ", spec.in_channels);
  if (spec.height <= 0 || spec.width <= 0)
    fail_input("model.height/model.width must be positive, got ", spec.height, "x", spec.width);
  if (spec.num_classes <= 0) fail_input("model.num_classes must be positive, got ", spec.num_classes);
  if (spec.dropout != -1.0 && !(spec.dropout >= 0 && spec.dropout < 1))
    fail_input("model.dropout must be in [0, 1) (or -1 for the model's default), got ", spec.dropout);
  if (spec.depth < 1 || spec.depth > 1000) fail_input("model.depth must be in [1, 1000], got ", spec.depth);
  if (spec.hidden_width < 1 || spec.hidden_width > 65536)
    fail_input("model.width must be in [1, 65536], got ", spec.hidden_width);
  index_of_name(pool_names(), spec.pool, "model.pool", "pooling");
  if (spec.pool == "fractional" && !reads(entry, "model.pool"))
    fail_input("model.pool: fractional pooling is for ", readers("model.pool"), ", not '", spec.name, "'");
  if (!(spec.fmp_ratio > 1.0 && spec.fmp_ratio < 2.0))
    fail_input("model.fmp_ratio must be in (1, 2), got ", spec.fmp_ratio);
  ops::fmp_sequence_from_name(spec.fmp_sequence);
  if (spec.fmp_test_samples < 1 || spec.fmp_test_samples > 1000)
    fail_input("model.fmp_test_samples must be in [1, 1000], got ", spec.fmp_test_samples);
  if (!spec.batch_norm && !reads(entry, "model.batch_norm"))
    fail_input("model.batch_norm: only ", readers("model.batch_norm"), " can leave their BatchNorm layers out, not '",
               spec.name, "'");
  index_of_name(drop_path_mode_names(), spec.drop_path_mode, "model.drop_path_mode", "mode");
  ops::dropout_mode_from_name(spec.dropout_mode);
  if (!(spec.dropconnect >= 0 && spec.dropconnect < 1))
    fail_input("model.dropconnect must be in [0, 1), got ", spec.dropconnect);
  if (!(spec.drop_path >= 0 && spec.drop_path < 1)) fail_input("model.drop_path must be in [0, 1), got ", spec.drop_path);
  validate_activation(spec.activation);
  init::check_options(spec.init);
}

std::shared_ptr<Module> build_model(const ModelSpec& spec, Rng& rng) {
  check_options(spec);
  const ModelEntry* entry = &find_model(spec.name);
  // the input's size is the data's, known here and not when the config is read
  if (spec.height < entry->min_size || spec.width < entry->min_size)
    fail_input("model.height/model.width: ", spec.name, " needs images of at least ", entry->min_size, "x",
               entry->min_size, ", got ", spec.height, "x", spec.width,
               " (resnet18_small, resnet20..110 and wrn_* are made for small images)");
  init::InitSpec init = spec.init;
  init.activation = spec.activation.name;
  if (spec.activation.slope >= 0) init.activation_slope = spec.activation.slope;
  else if (spec.activation.name == "prelu" || spec.activation.name == "prelu_channel") init.activation_slope = 0.25;
  std::shared_ptr<Module> model = entry->build(spec, rng);
  const ops::DropoutMode dropout_mode = ops::dropout_mode_from_name(spec.dropout_mode);
  if (set_dropout_mode(*model, dropout_mode) == 0) {  // a dropout knob on a model without dropout does nothing
    if (spec.dropout > 0)
      fail_input("model.dropout: model '", spec.name, "' has no dropout layer (`cvtrain models` says which have one)");
    if (dropout_mode != ops::DropoutMode::inverted)
      fail_input("model.dropout_mode: model '", spec.name, "' has no dropout layer");
  }
  if (spec.drop_path > 0 && set_drop_path(*model, static_cast<float>(spec.drop_path), spec.drop_path_mode == "batch") == 0)
    fail_input("model.drop_path: model '", spec.name, "' has no residual block (resnet*, preact_resnet20, wrn_*, resnet_stack)");
  if (spec.dropconnect > 0 && set_dropconnect(*model, static_cast<float>(spec.dropconnect)) == 0)
    fail_input("model.dropconnect: model '", spec.name, "' has no hidden fully connected layer (mlp, cnn, deep_mlp, lenet5, vgg)");
  init::init_model(*model, init, rng);
  if (spec.zero_init_residual && zero_init_residual(*model) == 0)
    fail_input("model.zero_init_residual: model '", spec.name,
               "' has no residual block ending in a BatchNorm (resnet18/34/50, resnet18_small, resnet20/32/56/110, resnet_stack)");
  return model;
}

double parameter_estimate(const ModelSpec& spec) {
  const ModelEntry& e = find_model(spec.name);
  return e.parameters ? e.parameters(spec) : 0.0;
}

int64_t parameter_count(Module& model) {
  int64_t n = 0;
  for (auto& [name, v] : model.named_parameters()) n += v->numel();
  return n;
}

}  // namespace cvtrain::nn
