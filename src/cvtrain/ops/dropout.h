// Inverted dropout as a mask multiply: in training keep each element with probability 1-p and
// scale by 1/(1-p); identity in evaluation. The mask comes from ctx.rng's counter-based stream,
// so it does not depend on the thread count. The original form (Srivastava et al. 2014, JMLR
// 15:1929) is an option: no scaling in training, y = (1-p) x at evaluation; both have E[y_train] = y_eval.
#pragma once
#include <string>

#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

// inverted: train y = x * m / (1-p), eval y = x.  original: train y = x * m, eval y = (1-p) x.
// m ~ Bernoulli(1-p) per element.
enum class DropoutMode { inverted, original };
const std::vector<std::string>& dropout_mode_names();      // in the enum's order
DropoutMode dropout_mode_from_name(const std::string& name);  // InputError naming model.dropout_mode
const char* dropout_mode_name(DropoutMode mode);

Variable dropout(Context& ctx, const Variable& x, float p, bool training,
                 DropoutMode mode = DropoutMode::inverted);  // x: any shape -> same shape

}  // namespace cvtrain::ops
