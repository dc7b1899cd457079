// Define-by-run autograd. A Variable is a Tensor plus, when it takes part in a graph, its gradient
// and the Node that made it. An op records one Node whose backward closure captures exactly what
// the derivative needs and returns one gradient per input (undefined where none is needed).
// backward() walks the graph once in reverse topological order and frees it as it goes.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/tensor/tensor.h"

namespace cvtrain {

struct Node;

struct VarImpl {
  Tensor data;
  Tensor grad;  // undefined until the first gradient arrives (parameters: a view into the arena)
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves and for results computed without a graph
};

// Gradients of an op's inputs, in input order; an undefined Tensor means "none for this input".
using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const Tensor& dout)>;
// Called during backward() for each leaf (a parameter) as soon as its gradient is final: every
// node of the graph that feeds it has run. Leaves the graph does not reach are not reported.
// Data-parallel training starts a bucket's all-reduce from here (dist/data_parallel.h).
using GradReadyFn = std::function<void(const VarImpl& leaf)>;

struct Node {
  const char* name;                               // the op, for error messages
  std::vector<std::shared_ptr<VarImpl>> inputs;   // where the gradients go (null: an absent optional input)
  BackwardFn backward;
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const { return impl_->data; }
  Tensor& data() { return impl_->data; }
  const Tensor& grad() const { return impl_->grad; }
  void set_grad(Tensor g) { impl_->grad = std::move(g); }
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  void set_requires_grad(bool r) { impl_->requires_grad = r; }  // a leaf only (model.freeze)
  const Shape& shape() const { return impl_->data.shape(); }
  int64_t size(int64_t d) const { return impl_->data.size(d); }
  int64_t numel() const { return impl_->data.numel(); }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  const std::shared_ptr<VarImpl>& impl() const { return impl_; }

  Variable detach() const { return Variable(impl_->data, false); }
  float item() const { return impl_->data.item(); }

  // Backpropagate from this (one-element) variable with seed gradient 1, or from `dout`.
  void backward() const;
  void backward(const Tensor& dout) const;
  // The same, calling `on_leaf_ready` for each leaf whose gradient is final (GradReadyFn).
  void backward(const GradReadyFn& on_leaf_ready) const;
  void backward(const Tensor& dout, const GradReadyFn& on_leaf_ready) const;

 private:
  std::shared_ptr<VarImpl> impl_;
};

// The one way an op joins the graph: when grad mode is on and any input requires a gradient, wrap
// `out` in a Variable with a Node holding `backward`; otherwise drop `backward` (and what it captured).
// NOTE: a backward returns fresh buffers or views of `dout`, never a tensor that something else keeps
// (a saved forward output): the first gradient of a variable takes the returned buffer as its own.
Variable record(Context& ctx, const char* name, Tensor out, const std::vector<Variable>& inputs, BackwardFn backward);
inline Variable record(Context& ctx, const char* name, Tensor out, std::initializer_list<Variable> inputs,
                       BackwardFn backward) {
  return record(ctx, name, std::move(out), std::vector<Variable>(inputs), std::move(backward));
}

// Adds `g` into v's gradient (allocating it on first use). `g` must have v's shape.
void accumulate_grad(VarImpl& v, const Tensor& g);

}  // namespace cvtrain
