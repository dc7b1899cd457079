// Builds a small CNN from cvtrain's layers, trains it for a few steps on a synthetic data set with
// SGD, and exits non-zero unless the loss went down. Built by CI against the installed package.
#include <cstdio>
#include <memory>

#include "cvtrain/data/dataset.h"
#include "cvtrain/data/loader.h"
#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/layers.h"
#include "cvtrain/ops/loss.h"
#include "cvtrain/optim/sgd.h"

using namespace cvtrain;

int main() {
  Context ctx(/*seed=*/7);
  Rng init_rng(7);
  nn::Sequential net;
  net.add(std::make_shared<nn::Conv2d>(init_rng, nn::Conv2dOptions(1, 8, 3).padding(1).bias(false)));
  net.add(std::make_shared<nn::BatchNorm2d>(8));
  net.add(std::make_shared<nn::ReLU>());
  net.add(std::make_shared<nn::MaxPool2d>(2));
  net.add(std::make_shared<nn::Flatten>());
  net.add(std::make_shared<nn::Linear>(init_rng, 8 * 8 * 8, 4));

  Dataset data = make_synthetic(256, 1, 16, 16, /*seed=*/1);
  Normalization norm = fit_normalization(data);
  BatchLoader loader(data, norm, 32, /*shuffle=*/true);
  nn::ParameterArena arena(net);
  optim::OptimOptions opt;
  opt.momentum = 0.9f;
  optim::SGD sgd(arena, opt);

  float first = 0, last = 0;
  for (int epoch = 0; epoch < 3; ++epoch) {
    loader.start_epoch(ctx.rng);
    Batch batch;
    while (loader.next(batch)) {
      Variable loss = ops::cross_entropy(ctx, net.forward(ctx, Variable(batch.x)), batch.y);
      arena.zero_grad();
      loss.backward();
      sgd.step(0.05f, 0.9f);
      last = loss.item();
      if (first == 0) first = last;
    }
    std::printf("epoch %d loss %.4f\n", epoch + 1, last);
  }
  std::printf("first loss %.4f, last loss %.4f\n", first, last);
  return last < first ? 0 : 1;
}
