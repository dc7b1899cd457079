#!/usr/bin/env bash
# `cvtrain report` reads a test accuracy still rising at the end: the CNN on 2000 Fashion-MNIST
# images for 3 epochs is at its best at the last one; the synthetic run is at 100% from epoch 1.
source "$(dirname "$0")/report_helpers.bash"
train short "$src/recipes/fashion_cnn.yaml" --set data.limit_train=2000 --set data.limit_test=500 --set train.epochs=3 \
  --set train.batch_size=32 --set optim.lr=0.02 --set optim.schedule=constant "${quiet[@]}"
train healthy "${synthetic[@]}" --set optim.lr=0.02
expect short still_improving yes
expect healthy still_improving no
finish report_still_improving
