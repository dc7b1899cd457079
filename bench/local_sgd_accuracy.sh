#!/usr/bin/env bash
# What local SGD (train.dist_local_sgd) costs in accuracy: the CNN recipe on Fashion-MNIST, 2 ranks
# x batch 64 (the recipe's global batch of 128) x 1 thread under mpirun on this machine, with the
# gradients summed every step (0) and the weights averaged every N steps, for each seed. Reports the
# last epoch's validation accuracy (what would choose between them) and, beside it, the test accuracy.
#
#   bench/local_sgd_accuracy.sh [BUILD_DIR] [OUT_DIR]   (about 1 minute a run on 2 cores)
#   env: EVERY (default "0 4 16"), SEEDS (default "0 1"), EPOCHS (default 10), RECIPE (default fashion_cnn)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=${2:-/tmp/local_sgd_accuracy}
recipe=$root/recipes/${RECIPE:-fashion_cnn}.yaml
mkdir -p "$out"
: > "$out/runs.jsonl"
for seed in ${SEEDS:-0 1}; do
  for every in ${EVERY:-0 4 16}; do
    rm -rf "$out/run"
    t0=$(date +%s.%N)
    mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -np 2 "$build/cvtrain" train \
      "$recipe" --set seed="$seed" --set threads=1 --set train.batch_size=64 --set train.epochs="${EPOCHS:-10}" \
      --set data.val_fraction=0.1 --set train.dist_local_sgd="$every" --set train.progress=false \
      --set train.tensorboard=false --set train.plots=false --out "$out/run" > "$out/run.log" 2>&1 ||
      { cat "$out/run.log"; exit 1; }
    python3 - "$out/run/metrics.jsonl" "$seed" "$every" "$(date +%s.%N)" "$t0" <<'PY' | tee -a "$out/runs.jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
last = rows[-1]
print(json.dumps({"seed": int(sys.argv[2]), "dist_local_sgd": int(sys.argv[3]), "epochs": last["epoch"],
                  "val_acc": last["val_acc"], "test_acc": last["test_acc"], "train_loss": last["train_loss"],
                  "wall_s": round(float(sys.argv[4]) - float(sys.argv[5]), 1)}))
PY
  done
done
rm -rf "$out/run"
python3 - "$out/runs.jsonl" <<'PY'
import json, sys, statistics
from collections import defaultdict
by = defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l)
    by[r["dist_local_sgd"]].append(r)
print("| train.dist_local_sgd | seeds | val acc (each) | test acc (each) | mean val | mean test |")
print("|---|---|---|---|---|---|")
for every, rs in sorted(by.items()):
    v = [r["val_acc"] for r in rs]; t = [r["test_acc"] for r in rs]
    print(f"| {every} | {len(rs)} | {', '.join(f'{x:.2%}' for x in v)} | {', '.join(f'{x:.2%}' for x in t)} | "
          f"{statistics.mean(v):.2%} | {statistics.mean(t):.2%} |")
PY
