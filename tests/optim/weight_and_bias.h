// The two-parameter model the optimizer tests step: a weight (3,4) and a bias (4), both zero, whose
// gradients the tests set by hand (the arena's gradient slots), as record_optim.py does in PyTorch.
#pragma once
#include "cvtrain/nn/module.h"

namespace cvtrain::testing {

class WeightAndBias : public nn::Module {
 public:
  WeightAndBias() : Module("WeightAndBias") {
    weight = register_parameter("weight", Tensor::zeros({3, 4}));
    bias = register_parameter("bias", Tensor::zeros({4}));
  }
  Variable forward(Context&, const Variable& x) override { return x; }
  Variable weight, bias;
};

// Variable::grad() is const; a copy of the Tensor handle writes into the same (arena) storage.
inline Tensor grad_of(const Variable& v) { return v.grad(); }

}  // namespace cvtrain::testing
