#!/usr/bin/env bash
# `cvtrain report` reads underfitting: a 4-unit perceptron fits about half of its Fashion-MNIST
# training images after 4 epochs and does as well on the test images (no gap); the synthetic CNN
# run fits its training set and shows no underfitting.
source "$(dirname "$0")/report_helpers.bash"
train tiny "${tiny_fashion[@]}" --set train.epochs=4 --set optim.lr=0.01 --set optim.schedule=constant
train healthy "${synthetic[@]}" --set optim.lr=0.02
expect tiny underfitting yes
expect healthy underfitting no
finish report_underfitting
