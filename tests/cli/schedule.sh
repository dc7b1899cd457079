#!/usr/bin/env bash
# `cvtrain schedule`: the lr per optimizer step as the trainer will use it. Step decay per epoch
# (32 steps an epoch on the synthetic set with batch 32), warmup multiplying it, the linear scaling
# rule, accumulation halving the steps, the text listing, the PNG, and a bad key naming itself.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
base=(schedule "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set train.batch_size=32
      --set train.epochs=3 --set optim.lr=0.1)

"$bin" "${base[@]}" --set optim.schedule=step --set optim.gamma=0.5 --set optim.step_size=1 \
  --set optim.warmup_steps=10 --set optim.warmup_start_factor=0.1 --json --out "$tmp/lr.png" > "$tmp/step.json"
python3 - "$tmp/step.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
lr = j["lr"]
assert j["steps_per_epoch"] == 32 and j["total_steps"] == 96 and len(lr) == 96, j["total_steps"]
close = lambda a, b: abs(a - b) <= 1e-6 * abs(b) + 1e-12
assert close(lr[0], 0.01), lr[0]                 # warmup starts at 0.1 x lr
assert close(lr[5], 0.1 * (0.1 + 0.9 * 5 / 10)), lr[5]
assert close(lr[10], 0.1) and close(lr[31], 0.1)  # warmup over, first epoch
assert close(lr[32], 0.05) and close(lr[64], 0.025), (lr[32], lr[64])
assert all(abs(m - 0.9) < 1e-6 for m in j["momentum"])
PY
head -c 8 "$tmp/lr.png" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a" || { echo "FAIL: lr.png is not a PNG"; exit 1; }

# linear scaling (batch 32 x accumulate 2 over base 256) and accumulation: 16 steps an epoch
"$bin" "${base[@]}" --set optim.schedule=constant --set optim.scale_lr=linear --set optim.base_batch_size=256 \
  --set train.accumulate_steps=2 --set optim.name=adam --json > "$tmp/scaled.json"
python3 - "$tmp/scaled.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["steps_per_epoch"] == 16 and j["total_steps"] == 48, j
assert abs(j["lr"][0] - 0.1 * 64 / 256) < 1e-9, j["lr"][0]
assert abs(j["momentum"][0] - 0.9) < 1e-6   # adam: the schedule's momentum is beta1
PY

"$bin" "${base[@]}" --set optim.schedule=sgdr --set optim.restart_period=1 > "$tmp/sgdr.txt"
[[ $(grep -vc '^#' "$tmp/sgdr.txt") -eq 96 ]] || { echo "FAIL: text listing"; exit 1; }
awk '$1 == 32 && $3 == 0.100000001 {found=1} END {exit !found}' "$tmp/sgdr.txt" || { echo "FAIL: sgdr restart at step 32"; exit 1; }

if "$bin" "${base[@]}" --set optim.schedule=multistep --set optim.milestones=2,1 > /dev/null 2> "$tmp/err"; then
  echo "FAIL: bad milestones accepted"; exit 1; fi
grep -q "optim.milestones" "$tmp/err" || { cat "$tmp/err"; echo "FAIL: error does not name the key"; exit 1; }
echo "schedule: 1 passed, 0 failed"
