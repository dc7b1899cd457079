#!/usr/bin/env bash
# Large-batch training on Fashion-MNIST with the CNN recipe, same epochs for every row: batch 128
# (the recipe), then 1,024 and 8,192 as one process's batch, with the linear scaling rule
# (optim.scale_lr: linear from base_batch_size 128) and a warmup, without the rule, and with lars
# (its lr from cvtrain lr-find at batch 1,024: lowest loss at 24, falling fastest at 1.5; 10 here).
# Prints one row per run: optimizer steps, the last epoch's test accuracy (nothing is chosen on it), wall seconds.
# Usage: bench/large_batch.sh BIN OUT [--set k=v ...]   (env: EPOCHS=5)
set -euo pipefail
bin=$1; out=$2; shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
epochs=${EPOCHS:-5}
common=(--set train.epochs="$epochs" --set train.tensorboard=false --set train.histograms=false
        --set train.plots=false --set train.progress=false "$@")
mkdir -p "$out"
row() {  # name, --set args...
  local name=$1; shift
  local t0=$(date +%s.%N)
  "$bin" train "$src/recipes/fashion_cnn.yaml" "${common[@]}" "$@" --out "$out/$name" --overwrite > "$out/$name.log" 2>&1 \
    || { echo "| $name | failed: $(tail -1 "$out/$name.log" | cut -c1-120) |"; return; }
  local wall=$(echo "$(date +%s.%N) - $t0" | bc)
  python3 - "$out/$name" "$name" "$wall" <<'PY'
import json, sys
run, name, wall = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
print(f"| {name} | {rows[-1]['step']} | {100 * rows[-1]['test_acc']:.2f}% | {wall:.0f} |")
PY
}
echo "| run | steps | test acc (last epoch) | wall (s) |"
echo "|---|---|---|---|"
row b128-sgd
for b in 1024 8192; do
  warm=$(( b == 1024 ? 1 : 2 ))
  row b$b-sgd --set train.batch_size=$b --set optim.scale_lr=linear --set optim.base_batch_size=128 --set optim.warmup_epochs=$warm
  row b$b-sgd-noscale --set train.batch_size=$b
  row b$b-lars --set train.batch_size=$b --set optim.name=lars --set optim.lr=${LARS_LR:-10} \
      --set optim.warmup_epochs=$warm --set optim.decay_bias_and_norm=false
done
