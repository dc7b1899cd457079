#!/bin/bash
# Time to accuracy, side by side (docs/perf.md): the ResNet-20 recipe with flips and crops
# (recipes/fashion_resnet20_aug.yaml, 20 epochs) in cvtrain and the PyTorch reference recipe with the
# same schedule (torch_fmnist.py resnet20 20 --aug --channels-last), run at the same time with one
# thread each, so that both see the same machine. Prints the epoch and training seconds at which each
# first reaches 93.0% test accuracy. PRECISION bf16: cvtrain with train.precision bf16 against
# PyTorch's bf16 autocast (--amp), both channels-last.
# usage: bench/time_to_accuracy.sh [CVTRAIN_BINARY] [OUT_DIR] [fp32|bf16]   (about 30 minutes on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/cvtrain}
out=${2:-/tmp/time_to_accuracy}
precision=${3:-fp32}
case "$precision" in
  fp32) amp=() ;;
  bf16) amp=(--amp) ;;
  *) echo "time_to_accuracy.sh: precision must be fp32 or bf16, got '$precision'" >&2; exit 2 ;;
esac
anchor=$root/../shared/anchors/torch_fmnist.py
mkdir -p "$out"
OMP_NUM_THREADS=1 "$bin" train "$root/recipes/fashion_resnet20_aug.yaml" --out "$out/cvtrain" --set threads=1 \
  --set train.precision="$precision" > "$out/cvtrain.log" 2>&1 &
OMP_NUM_THREADS=1 /usr/bin/python3 "$anchor" resnet20 20 --aug --threads 1 --channels-last "${amp[@]}" \
  > "$out/torch.log" 2>&1 &
wait
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
cv = [json.loads(l) for l in open(f"{out}/cvtrain/metrics.jsonl")]
pt = [json.loads(l) for l in open(f"{out}/torch.log") if l.startswith('{"epoch"')]
def report(name, rows, secs):
    t = 0.0
    for r in rows:
        t += secs(r)
        if r["test_acc"] >= 0.93:
            print(f"{name}: 93.0% first at epoch {r['epoch']} ({r['test_acc']:.4f}) after {t:.0f} s of training")
            break
    else:
        print(f"{name}: 93.0% not reached")
    print(f"{name}: final {rows[-1]['test_acc']:.4f}, {sum(secs(r) for r in rows):.0f} s of training in all")
report("cvtrain", cv, lambda r: 60000 / r["images_per_s"])
report("pytorch", pt, lambda r: r["train_s"])
PY
