// export_onnx in a build without libonnx-dev / libprotobuf-dev (CMake found no ONNX): every call is
// an InputError that says what to install. The real exporter is onnx_export.cpp.
#include "cvtrain/interop/onnx_export.h"

namespace cvtrain::interop {

std::string export_onnx(nn::Module&, const OnnxExportOptions&) {
  fail_input("onnx export: this cvtrain was built without ONNX support (apt-get install libonnx-dev "
             "libprotobuf-dev, then configure and build again)");
}

void write_onnx(const std::string& path, nn::Module& model, const OnnxExportOptions& options) {
  export_onnx(model, options);
}

std::vector<OnnxRuleInfo> onnx_rule_list() { return {}; }

}  // namespace cvtrain::interop
