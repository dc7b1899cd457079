#!/usr/bin/env bash
# `cvtrain report` reads overfitting: the CNN without dropout or weight decay on 256 Fashion-MNIST
# images for 16 epochs fits them far better than the test images (a gap over 10 points, named as a
# gap to the test split since the run has no validation split); the synthetic run shows no gap.
source "$(dirname "$0")/report_helpers.bash"
train small "$src/recipes/fashion_cnn.yaml" --set data.limit_train=256 --set data.limit_test=500 --set train.epochs=16 \
  --set train.batch_size=32 --set optim.lr=0.05 --set optim.schedule=constant --set model.dropout=0 \
  --set optim.weight_decay=0 --set train.log_every_steps=4 "${quiet[@]}"
train healthy "${synthetic[@]}" --set optim.lr=0.02
expect small overfitting yes
grep -q "and the test accuracy" "$tmp/small.report" || { echo "FAIL: the reading does not name the test split"; fails=$((fails + 1)); }
expect healthy overfitting no
finish report_overfitting
