// Test helpers shared by every test folder: fixtures recorded from PyTorch, random tensors,
// closeness checks, and finite-difference gradient checks (double for kernels, f32 for op wiring).
#pragma once
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cvtrain/autograd/variable.h"

namespace cvtrain::testing {

// Fixture files under tests/fixtures/NAME.txt, one tensor per line: `name ndim d0 .. dn-1 v0 v1 ...`
// (written by the recording scripts beside them). Returns f32 tensors by name.
std::map<std::string, Tensor> load_fixture(const std::string& name);

// The message of the InputError that `run` throws (what a user is told), or "" when it throws none.
std::string input_error_of(const std::function<void()>& run);

// Outputs are pre-filled with this before a kernel writes them, so an element it misses shows.
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// sum_i a_i b_i in double: the scalar loss <f(x), r> whose gradient the finite-difference checks take.
double dot(const std::vector<double>& a, const std::vector<double>& b);

// max |a-b| over max |b| (f32 tensors of b's size): an error relative to the scale of the values,
// as logits are compared.
double relative_max_diff(const Tensor& a, const Tensor& b);

// Uniform in [lo, hi) from a fixed seed.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
std::vector<double> random_doubles(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);

// Max |a-b| <= atol + rtol*|b| elementwise; reports the first bad index.
::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, float atol = 1e-5f, float rtol = 1e-4f);
::testing::AssertionResult all_close(const std::vector<double>& a, const std::vector<double>& b,
                                     double atol = 1e-7, double rtol = 1e-6);

// Central differences of a scalar function of a double vector.
std::vector<double> numeric_grad(const std::function<double(const std::vector<double>&)>& f,
                                 std::vector<double> x, double eps = 1e-6);

// Autograd wiring check in f32: for L = sum(f(inputs) * R) with a fixed random R, compares each
// input's gradient from backward() with central differences. Inputs all require grad.
::testing::AssertionResult check_op_gradients(
    const std::function<Variable(Context&, const std::vector<Variable>&)>& f, const std::vector<Tensor>& inputs,
    float eps = 1e-2f, float atol = 2e-3f, float rtol = 2e-2f);

// Weights both sides can compute (tests/fixtures/record_torchvision.py, formula_value): each entry of
// a state_dict in its order t, element i, from integers only; weights of unit gain, BatchNorm
// running variances in [1, 1.5], num_batches_tracked = t. Fills `state` in place (views of a model
// fill the model).
void fill_formula_state(std::vector<std::pair<std::string, Tensor>>& state);
// (shape) of values formula_u(10007, i) in [-1, 1): the script's formula_input.
Tensor formula_input(const Shape& shape);

}  // namespace cvtrain::testing
