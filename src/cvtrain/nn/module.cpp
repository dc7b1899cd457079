// Module bookkeeping: registration, recursive listings with dotted names, state dicts.
#include "cvtrain/nn/module.h"

#include <map>

namespace cvtrain::nn {

std::string Module::describe() const {
  if (children_.empty()) return type_ + "()";
  std::string out = type_ + "(\n";
  for (const auto& [name, child] : children_) {
    std::string text = child->describe(), indented;
    for (char c : text) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
    out += "  (" + name + "): " + indented + "\n";
  }
  return out + ")";
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

std::vector<std::pair<std::string, Variable*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Variable*>> out;
  for (auto& [name, v] : parameters_) out.emplace_back(name, &v);
  for (auto& [cname, child] : children_)
    for (auto& [name, v] : child->named_parameters()) out.emplace_back(cname + "." + name, v);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [name, t] : buffers_) out.emplace_back(name, &t);
  for (auto& [cname, child] : children_)
    for (auto& [name, t] : child->named_buffers()) out.emplace_back(cname + "." + name, t);
  return out;
}

// Mirrors torch.nn.Module._save_to_state_dict + the recursion in state_dict().
void Module::collect_state(const std::string& prefix, StateDict& out) {
  for (auto& [name, v] : parameters_) out.emplace_back(prefix + name, v.data());
  for (auto& [name, t] : buffers_) out.emplace_back(prefix + name, t);
  for (auto& [cname, child] : children_) child->collect_state(prefix + cname + ".", out);
}

StateDict Module::state_dict() {
  StateDict out;
  collect_state("", out);
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) {
    if (!given.emplace(name, &t).second) fail_input("load_state_dict: key '", name, "' appears twice");
  }
  StateDict own = state_dict();
  std::vector<std::string> missing, mismatched;
  std::vector<std::pair<Tensor*, const Tensor*>> copies;
  for (auto& [name, dst] : own) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& src = *it->second;
    if (src.shape() != dst.shape() || src.dtype() != dst.dtype())
      mismatched.push_back(detail::concat(name, ": ", src.describe(), " given, ", dst.describe(), " in the model"));
    else
      copies.emplace_back(&dst, &src);
    given.erase(it);
  }
  std::string msg;
  auto list = [&](const char* what, const std::vector<std::string>& keys, const char* sep) {
    if (keys.empty()) return;
    msg += msg.empty() ? "" : "; ";
    msg += what;
    for (size_t i = 0; i < keys.size(); ++i) msg += (i ? sep : " ") + keys[i];
  };
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : given) unexpected.push_back(name);
  if (strict) {
    list("missing keys:", missing, ", ");
    list("unexpected keys:", unexpected, ", ");
  }
  list("size or dtype mismatch:", mismatched, "; ");
  if (!msg.empty()) fail_input("load_state_dict (", type_, "): ", msg);
  // `own` holds views of the module's tensors, so copy_ writes into the module itself.
  for (auto& [dst, src] : copies) dst->copy_(*src);
}

void Module::check_new_name(const std::string& name) const {
  CHECK(!name.empty() && name.find('.') == std::string::npos, type_, ": bad member name '", name, "'");
  for (const auto& [n, v] : parameters_) CHECK(n != name, type_, ": '", name, "' registered twice");
  for (const auto& [n, t] : buffers_) CHECK(n != name, type_, ": '", name, "' registered twice");
  for (const auto& [n, c] : children_) CHECK(n != name, type_, ": '", name, "' registered twice");
}

Variable& Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  CHECK(value.defined() && value.dtype() == DType::f32, type_, ": parameter '", name, "' must be f32");
  parameters_.emplace_back(name, Variable(std::move(value), true));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  CHECK(value.defined(), type_, ": buffer '", name, "' is undefined");
  buffers_.emplace_back(name, std::move(value));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  CHECK(module != nullptr, type_, ": child '", name, "' is null");
  module->train(training_);
  children_.emplace_back(name, std::move(module));
}

}  // namespace cvtrain::nn
