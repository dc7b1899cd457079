#include "common/testing.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "cvtrain/base/error.h"
#include "cvtrain/tensor/rng.h"

namespace cvtrain::testing {

std::string input_error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::map<std::string, Tensor> load_fixture(const std::string& name) {
  std::string path = std::string(CVTRAIN_FIXTURES) + "/" + name + ".txt";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path);
  std::map<std::string, Tensor> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string key;
    int64_t nd;
    ls >> key >> nd;
    Shape shape(nd);
    for (auto& d : shape) ls >> d;
    std::vector<float> v(shape_numel(shape));
    for (auto& x : v) {
      double d;
      ls >> d;
      x = static_cast<float>(d);
    }
    if (!ls) throw std::runtime_error("bad fixture line for " + key + " in " + path);
    out[key] = Tensor::from_vector(v, shape);
  }
  return out;
}


double relative_max_diff(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b.data<float>()[i])));
  }
  return diff / scale;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * rng.uniform();
  return t;
}

std::vector<double> random_doubles(size_t n, uint64_t seed, double lo, double hi) {
  Rng rng(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = lo + (hi - lo) * rng.uniform();
  return v;
}

::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, float atol, float rtol) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << a.describe() << " vs " << b.describe();
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  for (size_t i = 0; i < va.size(); ++i) {
    if (!(std::fabs(va[i] - vb[i]) <= atol + rtol * std::fabs(vb[i])))
      return ::testing::AssertionFailure() << "element " << i << ": " << va[i] << " vs " << vb[i] << " (of "
                                           << va.size() << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_close(const std::vector<double>& a, const std::vector<double>& b, double atol,
                                     double rtol) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(a[i] - b[i]) <= atol + rtol * std::fabs(b[i])))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

std::vector<double> numeric_grad(const std::function<double(const std::vector<double>&)>& f,
                                 std::vector<double> x, double eps) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double keep = x[i];
    x[i] = keep + eps;
    double fp = f(x);
    x[i] = keep - eps;
    double fm = f(x);
    x[i] = keep;
    g[i] = (fp - fm) / (2 * eps);
  }
  return g;
}

::testing::AssertionResult check_op_gradients(
    const std::function<Variable(Context&, const std::vector<Variable>&)>& f, const std::vector<Tensor>& inputs,
    float eps, float atol, float rtol) {
  Context ctx(1234);
  auto run = [&](const std::vector<Tensor>& ins, bool grad, std::vector<Variable>* vars_out) {
    std::vector<Variable> vars;
    for (const Tensor& t : ins) vars.emplace_back(t.clone(), grad);
    ctx.rng = Rng(1234);  // the same random draws (dropout masks) on every evaluation
    Variable y = f(ctx, vars);
    if (vars_out) *vars_out = vars;
    return y;
  };
  Variable y0 = run(inputs, false, nullptr);
  Tensor r = random_tensor(y0.shape(), 99);
  auto loss_of = [&](const Tensor& y) {
    std::vector<float> vy = y.to_vector(), vr = r.to_vector();
    double s = 0;
    for (size_t i = 0; i < vy.size(); ++i) s += static_cast<double>(vy[i]) * vr[i];
    return s;
  };
  std::vector<Variable> vars;
  Variable y = run(inputs, true, &vars);
  y.backward(r);
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::vector<float> analytic = vars[k].grad().defined() ? vars[k].grad().to_vector()
                                                           : std::vector<float>(inputs[k].numel(), 0.0f);
    std::vector<Tensor> ins = inputs;
    for (auto& t : ins) t = t.clone();
    float* p = ins[k].data<float>();
    for (int64_t i = 0; i < ins[k].numel(); ++i) {
      float keep = p[i];
      p[i] = keep + eps;
      double fp = loss_of(run(ins, false, nullptr).data());
      p[i] = keep - eps;
      double fm = loss_of(run(ins, false, nullptr).data());
      p[i] = keep;
      double numeric = (fp - fm) / (2 * eps);
      if (!(std::fabs(analytic[i] - numeric) <= atol + rtol * std::fabs(numeric)))
        return ::testing::AssertionFailure() << "input " << k << " element " << i << ": autograd " << analytic[i]
                                             << " vs finite difference " << numeric;
    }
  }
  return ::testing::AssertionSuccess();
}

namespace {
// formula_u of record_torchvision.py: the same integer steps, so the same double.
double formula_u(uint64_t t, uint64_t i) {
  constexpr uint64_t mask = 0xFFFFFFFFull;
  uint64_t h = (i * 2654435761ull + t * 2246822519ull + 12345) & mask;
  h = ((h ^ (h >> 15)) * 2246822519ull) & mask;
  h ^= h >> 13;
  return static_cast<double>(h) / 4294967296.0 * 2 - 1;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

void fill_formula_state(std::vector<std::pair<std::string, Tensor>>& state) {
  for (size_t t = 0; t < state.size(); ++t) {
    const std::string& name = state[t].first;
    Tensor& v = state[t].second;
    if (v.dtype() == DType::i64) {
      for (int64_t i = 0; i < v.numel(); ++i) v.data<int64_t>()[i] = static_cast<int64_t>(t);
      continue;
    }
    const Shape& shape = v.shape();
    const double fan_in = shape.size() >= 2 ? static_cast<double>(v.numel() / shape[0]) : 1.0;
    float* p = v.data<float>();
    for (int64_t i = 0; i < v.numel(); ++i) {
      const double u = formula_u(t, static_cast<uint64_t>(i));
      double x = 0.1 * u;  // biases, running_mean
      if (ends_with(name, "running_var")) x = 1.25 + 0.25 * u;
      else if (ends_with(name, "running_mean")) x = 0.1 * u;
      else if (shape.size() >= 2) x = u * std::sqrt(3.0 / fan_in);
      else if (ends_with(name, "weight")) x = 1.0 + 0.2 * u;
      p[i] = static_cast<float>(x);
    }
  }
}

Tensor formula_input(const Shape& shape) {
  Tensor x = Tensor::empty(shape);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(formula_u(10007, static_cast<uint64_t>(i)));
  return x;
}

}  // namespace cvtrain::testing
