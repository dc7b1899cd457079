#!/usr/bin/env bash
# `cvtrain report` reads a flat start: at lr 1e-7 the synthetic run's loss stays at ln(4), the loss
# of a uniform guess; at lr 0.02 it falls at once and no flat_start finding appears.
source "$(dirname "$0")/report_helpers.bash"
train flat "${synthetic[@]}" --set optim.lr=1e-7
train healthy "${synthetic[@]}" --set optim.lr=0.02
expect flat flat_start yes
grep -q "ln(4) = 1.39" "$tmp/flat.report" || { echo "FAIL: the reading does not quote ln(4)"; fails=$((fails + 1)); }
expect healthy flat_start no
finish report_flat_start
