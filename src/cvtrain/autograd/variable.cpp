#include "cvtrain/autograd/variable.h"

#include <unordered_map>
#include <unordered_set>

#include "cvtrain/backend/cuda/kernels.h"

namespace cvtrain {

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<VarImpl>()) {
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
}

Variable record(Context& ctx, const char* name, Tensor out, const std::vector<Variable>& inputs, BackwardFn backward) {
  bool any = false;
  for (const Variable& v : inputs) any = any || v.requires_grad();
  Variable result(std::move(out), false);
  if (!ctx.grad_enabled || !any) return result;
  auto node = std::make_shared<Node>();
  node->name = name;
  for (const Variable& v : inputs) node->inputs.push_back(v.defined() ? v.impl() : nullptr);  // null: absent
  node->backward = std::move(backward);
  result.impl()->requires_grad = true;
  result.impl()->grad_fn = std::move(node);
  return result;
}

void accumulate_grad(VarImpl& v, const Tensor& g_in) {
  CHECK(g_in.shape() == v.data.shape(), "gradient ", g_in.describe(), " for a variable of ", v.data.describe());
  // A gradient has its variable's type: an op that computed a bf16 input in f32 returns an f32
  // gradient for it, rounded here (DnnlRuntime::bf16_activations)
  const bool convert = !g_in.is_cuda() && g_in.dtype() != v.data.dtype() &&
                       (v.data.dtype() == DType::bf16 || v.data.dtype() == DType::f32);
  const Tensor g = convert ? g_in.to(v.data.dtype()) : g_in;
  if (!v.grad.defined()) {
    // Take the buffer as it is when it is packed (NCHW or channels-last) and not a broadcast view;
    // else copy it.
    v.grad = g.is_dense() ? g : g.contiguous();
    return;
  }
  Tensor gc;
  if (v.grad.is_cuda()) {
    gc = g.contiguous();
  } else if (v.grad.strides() == g.strides()) {
    gc = g;  // same shape and strides as the dense v.grad
  } else {   // another memory format than the first gradient's (NCHW against channels-last)
    gc = v.grad.new_empty_like();
    gc.copy_(g);
  }
  if (v.grad.is_cuda()) {
    cuda::add_inplace(v.grad.cuda_runtime(), v.grad.data<float>(), gc.to_device_of(v.grad).data<float>(), g.numel());
    return;
  }
  const int64_t n = g.numel();
  if (v.grad.dtype() == DType::bf16) {  // bf16 activations' gradients: added in f32, rounded once
    bf16* __restrict dst = v.grad.data<bf16>();
    const bf16* __restrict src = gc.data<bf16>();
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) dst[i] = float_to_bf16(bf16_to_float(dst[i]) + bf16_to_float(src[i]));
    return;
  }
  float* dst = v.grad.data<float>();
  const float* src = gc.data<float>();
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

void Variable::backward() const {
  CHECK(numel() == 1, "backward() without a gradient needs a one-element variable, got ", data().describe());
  backward(Tensor::full(shape(), 1.0f).to_device_of(data()));
}

void Variable::backward(const GradReadyFn& on_leaf_ready) const {
  CHECK(numel() == 1, "backward() without a gradient needs a one-element variable, got ", data().describe());
  backward(Tensor::full(shape(), 1.0f).to_device_of(data()), on_leaf_ready);
}

void Variable::backward(const Tensor& dout) const { backward(dout, GradReadyFn()); }

void Variable::backward(const Tensor& dout, const GradReadyFn& on_leaf_ready) const {
  CHECK(requires_grad(), "backward() on a variable that does not require a gradient");
  // on_leaf_ready: the edges still to run into each leaf; a leaf is ready when its count reaches 0
  std::unordered_map<const VarImpl*, int> leaf_edges;
  // Reverse topological order by an iterative depth-first search over grad_fn edges.
  // Owning pointers: destroying a node drops its inputs, which may be their last reference.
  std::vector<std::shared_ptr<VarImpl>> order;
  std::unordered_set<VarImpl*> seen;
  std::vector<std::pair<std::shared_ptr<VarImpl>, size_t>> stack{{impl_, 0}};
  seen.insert(impl_.get());
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    CHECK(next > 0 || !v->grad_fn || v->grad_fn->backward, "backward through ", v->grad_fn->name,
          " a second time: backward() frees the graph it walks; run the forward again");
    if (v->grad_fn && next < v->grad_fn->inputs.size()) {
      std::shared_ptr<VarImpl> in = v->grad_fn->inputs[next++];
      if (on_leaf_ready && in && in->requires_grad && !in->grad_fn) ++leaf_edges[in.get()];  // each edge once
      if (in && in->requires_grad && seen.insert(in.get()).second) stack.push_back({std::move(in), 0});
      continue;
    }
    order.push_back(std::move(v));
    stack.pop_back();
  }
  accumulate_grad(*impl_, dout.clone());  // the caller keeps its dout
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    std::shared_ptr<VarImpl> v = std::move(*it);  // released at the end of this iteration
    if (!v->grad_fn) continue;                      // a leaf: its gradient stays
    // Free the graph as we go, but leave v's node behind emptied, so that a later backward through v
    // fails (the CHECK above) instead of taking v for a leaf.
    std::shared_ptr<Node> node = std::make_shared<Node>(std::move(*v->grad_fn));
    v->grad_fn->backward = nullptr;
    v->grad_fn->inputs.clear();
    if (v->grad.defined()) {
      CHECK(node->backward, "backward through ", node->name, " twice");
      Grads grads = node->backward(v->grad);
      CHECK(grads.size() == node->inputs.size(), node->name, " returned ", grads.size(), " gradients for ",
            node->inputs.size(), " inputs");
      for (size_t i = 0; i < grads.size(); ++i) {
        if (!grads[i].defined() || !node->inputs[i] || !node->inputs[i]->requires_grad) continue;
        // Two inputs handed the same buffer (add returns dout for both) must not share it as their gradient.
        for (size_t j = 0; j < i; ++j)
          if (grads[j].defined() && grads[j].storage() == grads[i].storage() && grads[j].offset() == grads[i].offset()) {
            grads[i] = grads[i].clone();
            break;
          }
        accumulate_grad(*node->inputs[i], grads[i]);
      }
    }
    if (on_leaf_ready)  // after the accumulation above, whether or not this node passed a gradient on
      for (const std::shared_ptr<VarImpl>& in : node->inputs)
        if (in && in->requires_grad && !in->grad_fn) {
          auto e = leaf_edges.find(in.get());
          if (e != leaf_edges.end() && --e->second == 0) on_leaf_ready(*in);
        }
    v->grad = Tensor();  // an intermediate's gradient is not needed once passed on
  }
}

}  // namespace cvtrain
