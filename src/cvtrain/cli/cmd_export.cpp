// `cvtrain export RUN_OR_CHECKPOINT --format onnx|safetensors --out FILE [--fold-bn]`: the model of a
// run folder, model file or checkpoint as an ONNX inference graph (interop/onnx_export.h) or as a
// plain model file under PyTorch's state_dict names (a checkpoint's optimizer state dropped).
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cvtrain/cli/commands.h"
#include "cvtrain/data/resize.h"
#include "cvtrain/interop/onnx_export.h"
#include "cvtrain/train/model_file.h"

namespace cvtrain::cli {

int cmd_export(const ExportArgs& a) {
  if (a.format != "onnx" && a.format != "safetensors")
    fail_input("--format: expected onnx or safetensors, got '", a.format, "'");
  if (a.fold_bn && a.format != "onnx") fail_input("--fold-bn applies to --format onnx only");
  Context ctx(0, 0);
  InferenceModel m = open_inference_model(a.run, a.config, a.weights, a.overrides, StoredUse::export_model, ctx.rng);
  if (a.format == "onnx") {
    interop::OnnxExportOptions o;
    o.C = m.C, o.H = m.H, o.W = m.W;
    o.norm = m.norm;
    o.preprocess = m.fitted;
    o.activation = {m.cfg.model.activation.name, m.cfg.model.activation.slope, m.cfg.model.activation.alpha};
    o.fold_batchnorm = a.fold_bn;
    o.graph_name = m.cfg.model.name;
    // The graph takes images already prepared as predict prepares them (data/resize.h); the spec
    // travels in the doc_string and the metadata_props.
    ImageSpec prep = image_spec(m.cfg.data);
    prep.channels = m.C;
    o.doc = "cvtrain " + m.cfg.model.name + " exported from " + m.weights.path +
            "; input (N," + std::to_string(m.C) + "," + std::to_string(m.H) + "," + std::to_string(m.W) +
            ") pixels v/255 in [0,1]" + (prep.resizes() ? " of each image prepared as: " + describe(prep) : "") +
            "; output logits";
    o.metadata = {{"cvtrain.image_transform", image_spec_json(prep)}};
    if (m.fitted.is_channel())  // the graph's first nodes apply it; recorded for readers of the file
      o.metadata.emplace_back("cvtrain.normalization", nlohmann::json({{"mean", m.norm.mean}, {"std", m.norm.std}}).dump());
    interop::write_onnx(a.out, *m.model, o);
  } else {
    auto meta = model_metadata(m.cfg, m.norm);
    add_preprocess_metadata(meta, m.fitted);
    Dataset shape_of;  // only the input's shape and class names are read
    shape_of.images = Tensor::empty({1, m.C, m.H, m.W}, DType::u8);
    shape_of.class_names = m.class_names;
    add_input_metadata(meta, shape_of);
    save_model_file(a.out, *m.model, meta);
  }
  std::error_code ec;  // a device or a pipe has no size: the bytes went there all the same
  const auto size = std::filesystem::is_regular_file(a.out, ec) ? std::filesystem::file_size(a.out, ec) : 0;
  std::printf("%s: %s model %s, input (N,%lld,%lld,%lld), %zu classes", a.out.c_str(), a.format.c_str(),
              m.cfg.model.name.c_str(), static_cast<long long>(m.C), static_cast<long long>(m.H),
              static_cast<long long>(m.W), m.class_names.size());
  if (size > 0) std::printf(", %lld bytes", static_cast<long long>(size));
  std::printf("\n");
  return 0;
}

}  // namespace cvtrain::cli
