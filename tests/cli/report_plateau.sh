#!/usr/bin/env bash
# `cvtrain report` reads a plateau: a 4-unit perceptron at a constant lr 0.05 stops improving its
# training loss for the last 3 of 10 epochs; with the lr decayed (cosine) no plateau finding appears.
source "$(dirname "$0")/report_helpers.bash"
train constant "${tiny_fashion[@]}" --set train.epochs=10 --set optim.lr=0.05 --set optim.schedule=constant
train decayed "${tiny_fashion[@]}" --set train.epochs=10 --set optim.lr=0.05 --set optim.schedule=cosine
expect constant plateau yes
grep -q "all at lr 0.05" "$tmp/constant.report" || { echo "FAIL: reading"; cat "$tmp/constant.report"; fails=$((fails + 1)); }
expect decayed plateau no
finish report_plateau
