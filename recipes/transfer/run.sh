#!/usr/bin/env bash
# The worked example of docs/transfer.md: pretrain the CNN on Fashion-MNIST classes 0-4, then train
# on classes 5-9 with 100 images per class from scratch, as a linear probe, and fine-tuned; prints
# the table of final test accuracies. Usage (from the repository root):
#   bash recipes/transfer/run.sh [path/to/cvtrain] [runs/transfer]
set -euo pipefail
bin=${1:-build/cvtrain}; out=${2:-runs/transfer}
mkdir -p "$out"
[[ -f "$out/pretrain/model.safetensors" ]] ||
  "$bin" train recipes/transfer/pretrain.yaml --set train.progress=false --out "$out/pretrain" --overwrite \
    > "$out/pretrain.log"
for r in scratch linear_probe finetune; do
  init=(); [[ $r == scratch ]] || init=(--set model.init_from="$out/pretrain")
  "$bin" train "recipes/transfer/$r.yaml" --set train.progress=false "${init[@]}" --out "$out/$r" --overwrite \
    > "$out/$r.log"
  [[ $r == scratch ]] || grep "model.init_from" "$out/$r.log"
done
printf '| run | final test accuracy | training seconds |\n|---|---|---|\n'
for r in pretrain scratch linear_probe finetune; do
  python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
last = [r for r in rows if r.get("test_acc") is not None][-1]
print("| %s | %.2f%% | %.0f |" % (sys.argv[2], 100 * last["test_acc"], sum(r["seconds"] for r in rows)))
' "$out/$r" "$r"
done
