// The cost of a model per image: multiply-adds of its convolutions and fully connected layers (the
// count papers report as "FLOPs", e.g. He et al. 2016 table 1), from the layers' attributes and the
// input size, without running the model. Not a profiler: BatchNorm, activations and pooling are free.
#pragma once
#include "cvtrain/nn/module.h"

namespace cvtrain::nn {

// input: one image's shape (C,H,W). Walks the module tree: Conv2d, Linear, MaxPool2d, Flatten,
// GlobalAvgPool, BasicBlock, Bottleneck and PreActBlock (branch and shortcut) change the shape; other leaves keep it;
// other containers run their children in order (as Sequential and the zoo's models do).
int64_t multiply_adds(Module& model, const Shape& input);

}  // namespace cvtrain::nn
