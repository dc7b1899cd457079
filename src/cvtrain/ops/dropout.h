// Inverted dropout as a mask multiply: in training keep each element with probability 1-p and
// scale by 1/(1-p); identity in evaluation. The mask comes from ctx.rng's counter-based stream,
// so it does not depend on the thread count.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

Variable dropout(Context& ctx, const Variable& x, float p, bool training);

}  // namespace cvtrain::ops
