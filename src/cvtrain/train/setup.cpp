// Turning a RunConfig into what a run needs: the model, the dataset options, and the model file's
// metadata (the resolved config as YAML, the normalization and fitted preprocessing as JSON, the
// input shape and class names). The program's subcommands and library users share these.
#include "cvtrain/train/setup.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/data/augment.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/transfer.h"

namespace cvtrain {

namespace {
// The spec for `like`'s images: the model sees what the preprocessing makes of an image, (K,1,1)
// after a PCA projection.
nn::ModelSpec model_spec(const RunConfig& cfg, const Dataset& like, const Preprocess* pre) {
  nn::ModelSpec spec = cfg.model;
  const Shape in = pre && !pre->is_channel() ? pre->out_shape()
                                             : Shape{like.images.size(1), like.images.size(2), like.images.size(3)};
  spec.in_channels = in[0];
  spec.height = in[1];
  spec.width = in[2];
  spec.num_classes = static_cast<int64_t>(like.class_names.size());
  return spec;
}
}  // namespace

std::shared_ptr<nn::Module> make_model(const RunConfig& cfg, const Dataset& like, Rng& rng, const Preprocess* pre) {
  const nn::ModelSpec spec = model_spec(cfg, like, pre);
  std::shared_ptr<nn::Module> model = nn::build_model(spec, rng);
  if (cfg.transfer.freeze_bn && count_batchnorm(*model) == 0)
    fail_input("model.freeze_bn: model '", cfg.model.name, "' has no BatchNorm layer");
  return model;
}

std::shared_ptr<nn::Module> make_stored_model(const RunConfig& cfg, const Dataset& like, const Normalization& norm,
                                              const Preprocess& fitted, uintmax_t file_bytes,
                                              const std::string& origin, Rng& rng) {
  const int64_t C = like.images.size(1), H = like.images.size(2), W = like.images.size(3);
  // the loader indexes mean/std by channel: a normalization with fewer would read past it
  if (static_cast<int64_t>(norm.mean.size()) != C)
    fail_input(origin, ": preprocess: ", norm.mean.size(), " channel means for ", C, "-channel images");
  if (!fitted.is_channel() && (fitted.C != C || fitted.H != H || fitted.W != W))
    fail_input(origin, ": preprocess_fit: fitted on ", fitted.C, "x", fitted.H, "x", fitted.W, " images, the data are ",
               C, "x", H, "x", W);
  const nn::ModelSpec spec = model_spec(cfg, like, &fitted);
  nn::check_options(spec);
  const double values = nn::parameter_estimate(spec), held = static_cast<double>(file_bytes) / 4;  // f32 values
  if (values > 2 * held + 1e6)
    fail_input(origin, ": the stored config describes a ", spec.name, " of about ", static_cast<int64_t>(values),
               " parameters, but the file holds at most ", static_cast<int64_t>(held),
               " values; the metadata does not belong to these weights");
  return make_model(cfg, like, rng, &fitted);
}

std::map<std::string, std::string> model_metadata(const RunConfig& cfg, const Normalization& norm) {
  nlohmann::json pre = {{"mean", norm.mean}, {"std", norm.std}};
  return {{"format", "cvtrain-model-1"}, {"config", dump_config(cfg)}, {"preprocess", pre.dump()}};
}

void add_input_metadata(std::map<std::string, std::string>& meta, const Dataset& like) {
  const nlohmann::json j = {{"shape", {like.images.size(1), like.images.size(2), like.images.size(3)}},
                            {"classes", like.class_names}};
  meta["input"] = j.dump();
}

Dataset input_like_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin) {
  Dataset like;
  auto it = meta.find("input");
  if (it == meta.end()) return like;
  std::vector<int64_t> shape;
  try {
    const auto j = nlohmann::json::parse(it->second);
    shape = j.at("shape").get<std::vector<int64_t>>();
    like.class_names = j.at("classes").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail_input(origin, ": metadata 'input': ", e.what());
  }
  // NOTE: the stand-in image is allocated, so the declared size is capped (2^26 values, as image_io caps pixels)
  if (shape.size() != 3 || shape[0] < 1 || shape[0] > 4 || shape[1] < 1 || shape[1] > 65536 || shape[2] < 1 ||
      shape[2] > 65536 || shape[0] * shape[1] * shape[2] > (int64_t{1} << 26) || like.class_names.empty())
    fail_input(origin, ": metadata 'input': want a (C,H,W) shape with C in 1..4, C*H*W <= 2^26, and at least one "
               "class name");
  like.images = Tensor::empty({1, shape[0], shape[1], shape[2]}, DType::u8);
  std::fill_n(like.images.data<uint8_t>(), like.images.numel(), uint8_t{0});
  like.labels = Tensor::empty({1}, DType::i64);
  like.labels.data<int64_t>()[0] = 0;
  return like;
}

Normalization normalization_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin) {
  auto it = meta.find("preprocess");
  if (it == meta.end()) fail_input(origin, ": no 'preprocess' entry in the metadata");
  try {
    auto j = nlohmann::json::parse(it->second);
    Normalization n;
    n.mean = j.at("mean").get<std::vector<float>>();
    n.std = j.at("std").get<std::vector<float>>();
    if (n.mean.empty() || n.mean.size() != n.std.size()) fail_input(origin, ": preprocess: mean and std differ in length");
    for (float s : n.std)
      if (!(s > 0)) fail_input(origin, ": preprocess: std must be positive");
    return n;
  } catch (const nlohmann::json::exception& e) {
    fail_input(origin, ": preprocess: ", e.what());
  }
}

Dataset load_split(const RunConfig& cfg, Split split) {
  return load_dataset(cfg.data, split, static_cast<uint64_t>(cfg.seed));
}

std::vector<std::string> choosing_keys(const RunConfig& cfg) {
  std::vector<std::string> keys;
  if (cfg.train.early_stop_patience > 0)
    keys.push_back("train.early_stop_patience: " + std::to_string(cfg.train.early_stop_patience));
  if (cfg.schedule.name == "plateau") keys.push_back("optim.schedule: plateau");
  if (cfg.train.keep == "best") keys.push_back("train.keep: best");
  return keys;
}

std::string hold_out_validation(RunConfig& cfg) {
  const std::vector<std::string> keys = choosing_keys(cfg);
  if (keys.empty() || has_validation_split(cfg.data)) return "";
  cfg.data.val_fraction = auto_val_fraction;
  std::string which;
  for (const std::string& k : keys) which += (which.empty() ? "" : ", ") + k;
  return which + " chooses on a validation split and data.val_fraction is 0: holding out " +
         std::to_string(static_cast<int>(auto_val_fraction * 100)) + "% of the training set (stratified, seed " +
         std::to_string(cfg.seed) + "), recorded as data.val_fraction " + config_value(cfg, "data.val_fraction") +
         " in the run's config.yaml";
}

namespace {
std::string shape_of(const Dataset& d) {
  return std::to_string(d.images.size(1)) + "x" + std::to_string(d.images.size(2)) + "x" + std::to_string(d.images.size(3));
}

// `held` (the validation or test split) can be evaluated by a model trained on `train`.
void check_held_out(const std::string& where, const Dataset& train, const Dataset& held, const char* name) {
  if (held.size() == 0)
    fail_input(where, ": the ", name, " split is empty; check data.limit_test, data.val_fraction and data.classes");
  if (shape_of(train) != shape_of(held))
    fail_input(where, ": training images are ", shape_of(train), " (CxHxW) but ", name, " images are ", shape_of(held),
               "; one model cannot take both");
  if (held.num_classes() > train.num_classes())
    fail_input(where, ": the ", name, " split has ", held.num_classes(), " classes, the training split ",
               train.num_classes());
}
}  // namespace

RunSplits load_splits(const RunConfig& cfg) {
  RunSplits s;
  s.train = load_split(cfg, Split::train);
  if (has_validation_split(cfg.data)) s.val = load_split(cfg, Split::val);
  s.test = load_split(cfg, Split::test);
  const std::string where = "data.dataset " + cfg.data.dataset + " (" + cfg.data.root + ")";
  if (s.train.size() == 0) fail_input(where, ": the training split is empty");
  AugmentPipeline(cfg.data.augment).check_channels(s.train.images.size(1));
  if (s.val) check_held_out(where, s.train, *s.val, "validation");
  check_held_out(where, s.train, s.test, "test");
  return s;
}

std::string RunSplits::describe() const {
  return std::to_string(train.size()) + " train, " + (val ? std::to_string(val->size()) + " val, " : "") +
         std::to_string(test.size()) + " test images";
}

std::string RunSplits::to_json(const RunConfig& cfg) const {
  nlohmann::json j = {{"train", train.size()}, {"test", test.size()}};
  if (val) {
    j["val"] = val->size();
    j["val_from"] = cfg.data.val_fraction > 0
                        ? "data.val_fraction " + config_value(cfg, "data.val_fraction") +
                              " of the training set, stratified by class, seed " + std::to_string(cfg.seed)
                        : cfg.data.root + "/val";
  }
  j["test_from"] = "the dataset's test split; reported, never chosen on";
  return j.dump(2) + "\n";
}

void add_preprocess_metadata(std::map<std::string, std::string>& meta, const Preprocess& fitted) {
  if (!fitted.is_channel()) meta["preprocess_fit"] = preprocess_to_json(fitted);
}

Preprocess preprocess_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin) {
  auto it = meta.find("preprocess_fit");
  return it == meta.end() ? Preprocess{} : preprocess_from_json(it->second, origin);
}

}  // namespace cvtrain
