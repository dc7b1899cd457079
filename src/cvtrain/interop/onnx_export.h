// ONNX export of a model's inference graph: a walk over the module tree (nn/) in which each module
// type maps to ONNX nodes through one visible table (onnx_rules), with the fitted input
// normalization (or data.preprocess transform) as the graph's first nodes. Opset 13, float32,
// weights as initializers under their state_dict names. Built on Debian's ONNX protobuf classes
// (libonnx-dev), which stay inside the .cpp. Not a runtime: nothing here evaluates the graph.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/activations.h"
#include "cvtrain/nn/module.h"

namespace cvtrain::interop {

struct OnnxExportOptions {
  int64_t C = 1, H = 28, W = 28;  // the image the graph takes: input (N,C,H,W), values v/255 in [0,1]
  Normalization norm;             // per-channel mean/std, the first nodes (Sub, Div) unless `preprocess`
  Preprocess preprocess;          // a fitted non-"channel" transform replaces the per-channel normalization
  // The parameter-free activations that residual blocks hold off the module tree (resnet.h) are
  // rebuilt from this spec (model.activation*), the one spec the model was built from.
  nn::ActivationSpec activation;
  bool fold_batchnorm = false;  // fold a BatchNorm2d into the Conv2d right before it (else BatchNormalization)
  std::string graph_name = "cvtrain";
  std::string doc;  // free text stored as the model's doc_string (the source file, the config)
  std::vector<std::pair<std::string, std::string>> metadata;  // the model's metadata_props (key, value)
};

// The serialized ModelProto: input "input" (N,C,H,W) f32, output "logits" (N,classes) f32, with N
// symbolic. The model must be in eval mode (dropout off, batch norm on running statistics).
// InputError names the module (dotted path and type) that has no rule.
std::string export_onnx(nn::Module& model, const OnnxExportOptions& options);
void write_onnx(const std::string& path, nn::Module& model, const OnnxExportOptions& options);

// One row of the table, for docs and errors: a module type and the ONNX nodes it becomes.
struct OnnxRuleInfo {
  std::string module_type;
  std::string onnx_nodes;
};
std::vector<OnnxRuleInfo> onnx_rule_list();

}  // namespace cvtrain::interop
