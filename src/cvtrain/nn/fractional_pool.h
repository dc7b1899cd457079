// The fractional max pooling layer (Graham 2014) and the test-time average over several of its
// samplings. In training each image of the batch gets its own region sequences from a fresh stream of
// ctx.rng; at evaluation sampling k (eval_sample) is a fixed sequence shared by all images, so an
// image's output depends on neither the batch nor the run's RNG. The op is ops/fractional_pool.h.
#pragma once
#include "cvtrain/nn/module.h"
#include "cvtrain/ops/fractional_pool.h"

namespace cvtrain::nn {

struct FmpOptions {
  double ratio = 1.4142135623730951;  // model.fmp_ratio: alpha in (1, 2); sqrt(2) as the paper's FMP nets
  bool overlapping = true;            // model.fmp_overlapping
  ops::FmpSequence sequence = ops::FmpSequence::random;  // model.fmp_sequence
};

class FractionalMaxPool2d : public Module {
 public:
  // layer_index: tells this layer's evaluation samplings from the other FMP layers' in one model.
  explicit FractionalMaxPool2d(const FmpOptions& opt, int64_t layer_index = 0);
  Variable forward(Context& ctx, const Variable& x) override;  // (N,C,H,W) -> (N,C,out(H),out(W))
  std::string describe() const override;
  int64_t out_size(int64_t in) const { return ops::fmp_output_size(in, opt_.ratio, opt_.overlapping); }

  int64_t eval_sample = 0;  // which fixed sampling evaluation uses (average_over_samplings sets it)

 private:
  FmpOptions opt_;
  int64_t layer_index_;
};

// Evaluation of `net` averaged over `samples` fixed samplings of its FractionalMaxPool2d layers
// (Graham 2014, section 3.2: "average the output of the network over several ... samplings"): the
// mean of the outputs (logits) for eval_sample = 0..samples-1. In training, or without FMP layers,
// or for samples <= 1, one plain forward.
Variable average_over_samplings(Context& ctx, Module& net, const Variable& x, int64_t samples);

}  // namespace cvtrain::nn
