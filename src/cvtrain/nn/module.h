// Module: the runtime-composed building block of a network. A module owns named parameters
// (Variables that require a gradient), named buffers (Tensors such as running statistics) and named
// child modules, and lists them with PyTorch's dotted names ("net.1.weight") in PyTorch's order,
// so state dicts move between the two. Not an optimizer and not a serializer (train/ saves files).
#pragma once
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/autograd/variable.h"

namespace cvtrain::nn {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type) : type_(std::move(type)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Variable forward(Context& ctx, const Variable& x) = 0;
  // One line for a leaf ("Linear(in_features=784, out_features=512, bias=True)"); a container
  // prints its children indented below it, as PyTorch's repr does.
  virtual std::string describe() const;

  const std::string& type() const { return type_; }
  void train(bool on = true);  // this module and every descendant
  void eval() { train(false); }
  bool training() const { return training_; }

  // Recursive, in registration order: a module's own entries first, then each child's, prefixed
  // "child.". The pointers stay valid for the module's lifetime.
  std::vector<std::pair<std::string, Variable*>> named_parameters();
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  // PyTorch's Module.state_dict order: for each module (pre-order), its parameters, then its
  // buffers, then its children. NOTE: the tensors share storage with the module (no copy).
  StateDict state_dict();
  // Copies values in place (views such as the parameter arena stay valid). Checks everything before
  // copying anything; throws InputError naming missing and unexpected keys (strict only) and every
  // key whose shape or dtype differs (always, as PyTorch does).
  void load_state_dict(const StateDict& state, bool strict = true);

 protected:
  Variable& register_parameter(const std::string& name, Tensor value);  // requires_grad = true
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void check_new_name(const std::string& name) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect_state(const std::string& prefix, StateDict& out);

  std::string type_;
  bool training_ = true;
  // deques: references handed out by register_* stay valid as more entries arrive
  std::deque<std::pair<std::string, Variable>> parameters_;
  std::deque<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace cvtrain::nn
