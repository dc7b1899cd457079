// Activation modules (torch.nn names, reprs and parameters: PReLU's "weight", init 0.25) and the
// one table that maps a `model.activation` name to a module. ReLU itself stays in layers.h. No
// math here: the ops are in ops/activation.h.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cvtrain/nn/module.h"

namespace cvtrain::nn {

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Variable forward(Context& ctx, const Variable& x) override;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Variable forward(Context& ctx, const Variable& x) override;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(float negative_slope = 0.01f) : Module("LeakyReLU"), slope_(negative_slope) {}
  Variable forward(Context& ctx, const Variable& x) override;
  std::string describe() const override;
  float negative_slope() const { return slope_; }

 private:
  float slope_;
};

// weight: (num_parameters), 1 (shared) or the channel count of x: (N,C,...).
class PReLU : public Module {
 public:
  explicit PReLU(int64_t num_parameters = 1, float init = 0.25f);
  Variable forward(Context& ctx, const Variable& x) override;
  std::string describe() const override;

  Variable weight;
};

class ELU : public Module {
 public:
  explicit ELU(float alpha = 1.0f) : Module("ELU"), alpha_(alpha) {}
  Variable forward(Context& ctx, const Variable& x) override;
  std::string describe() const override;
  float alpha() const { return alpha_; }

 private:
  float alpha_;
};

class SELU : public Module {
 public:
  SELU() : Module("SELU") {}
  Variable forward(Context& ctx, const Variable& x) override;
};

class GELU : public Module {
 public:
  explicit GELU(bool approximate_tanh = false) : Module("GELU"), tanh_(approximate_tanh) {}
  Variable forward(Context& ctx, const Variable& x) override;
  std::string describe() const override;
  bool approximate_tanh() const { return tanh_; }

 private:
  bool tanh_;
};

class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Variable forward(Context& ctx, const Variable& x) override;
};

// What an activation becomes in an ONNX graph is written against this interface, so that each
// activation's row holds its ONNX form while nn/ stays free of ONNX (interop/onnx_export.cpp
// implements it over the protobuf graph). Values are named by strings.
class OnnxGraph {
 public:
  virtual ~OnnxGraph() = default;
  // A node of the ONNX operator `op` on `inputs`, with float attributes; returns its output.
  virtual std::string node(const std::string& op, const std::vector<std::string>& inputs,
                           const std::vector<std::pair<std::string, float>>& attrs = {}) = 0;
  // A constant of the layer (an f32 initializer named after it); returns its name.
  virtual std::string constant(const std::string& name, const std::vector<float>& values, const Shape& shape) = 0;
};
// Emits the activation module `m` on the value `x` of rank `rank`; returns the output's name.
using OnnxEmit = std::string (*)(OnnxGraph& g, Module& m, const std::string& x, int64_t rank);

// What a model needs to build its activations (config keys model.activation, model.activation_slope,
// model.activation_alpha).
struct ActivationSpec {
  std::string name = "relu";
  double slope = -1.0;  // leaky_relu slope / prelu initial slope; < 0: the module's default (0.01 / 0.25)
  double alpha = 1.0;   // elu
};

struct ActivationEntry {
  std::string name;
  std::string description;
  // channels: C of the tensor the activation sees (prelu_channel learns one slope per channel)
  std::function<std::shared_ptr<Module>(const ActivationSpec&, int64_t channels)> build;
  // The init gain for this nonlinearity (model.init_gain 0 with kaiming/xavier/orthogonal), as
  // torch.nn.init.calculate_gain gives it; `slope`: the negative slope of the leaky kinds.
  double (*gain)(double slope);
  std::string type;        // the module type it builds (Module::type(), torch.nn's class name)
  const char* onnx_nodes;  // what it becomes in ONNX, for docs/interop.md
  OnnxEmit onnx;           // ... and how (opset 13)
  std::vector<std::string> keys = {};  // the config keys it reads beyond model.activation
  // Multiply-adds are counted for convolutions and linear layers only (nn/flops.h): an activation adds none.
};

// Every activation, in the order docs list them.
const std::vector<ActivationEntry>& activation_registry();

// Checks the name and parameters (InputError naming model.activation*) without building anything.
void validate_activation(const ActivationSpec& spec);
std::shared_ptr<Module> make_activation(const ActivationSpec& spec, int64_t channels);

// Whether a module type is an activation of this table (diagnostics tell them from other layers; the
// ONNX export takes their rules from the table).
bool is_activation_type(const std::string& module_type);

}  // namespace cvtrain::nn
