// Reductions over chosen dimensions (all when dims is empty), with keepdim as in PyTorch.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

Variable sum(Context& ctx, const Variable& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Variable mean(Context& ctx, const Variable& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// Max over one dimension; the gradient flows to the first maximal element (as PyTorch's max(dim)).
Variable max(Context& ctx, const Variable& x, int64_t dim, bool keepdim = false);

}  // namespace cvtrain::ops
