#!/usr/bin/env bash
# `cvtrain report` reads an exploding loss: at lr 3 the synthetic run diverges within 3 steps and
# training stops (exit 2, no model file); the report of that stopped folder names the logged loss
# far above ln(4) and says there is no model to evaluate. At lr 0.02 no exploding finding appears.
source "$(dirname "$0")/report_helpers.bash"
train diverged "${synthetic[@]}" --set optim.lr=3
grep -q "the loss is diverging" "$tmp/diverged.train.log" || { echo "FAIL: the lr 3 run did not diverge"; cat "$tmp/diverged.train.log"; exit 1; }
train healthy "${synthetic[@]}" --set optim.lr=0.02
expect diverged exploding yes
grep -q "\[problem\] exploding: The training loss was .* over 10 times ln(4)" "$tmp/diverged.report" ||
  { echo "FAIL: reading"; cat "$tmp/diverged.report"; fails=$((fails + 1)); }
grep -q "No model.safetensors in the run folder" "$tmp/diverged/report.html" ||
  { echo "FAIL: the page of a stopped run does not say why there is no test section"; fails=$((fails + 1)); }
# skipping the non-finite batches instead: the run finishes with NaN epoch losses
train nan "${synthetic[@]}" --set optim.lr=3 --set train.skip_nonfinite=1000
expect nan exploding yes
expect healthy exploding no
finish report_exploding
