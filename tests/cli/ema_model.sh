#!/usr/bin/env bash
# With train.ema_decay the run also writes RUN/ema.safetensors, the averaged weights and batch-norm
# statistics as a model file: eval of it reproduces the last epoch's ema_test_loss/ema_test_acc, and
# predict and export take it like model.safetensors. Without EMA there is no such file.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run=(train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set data.limit_train=512
     --set data.limit_test=128 --set train.epochs=2 --set train.progress=false)
"$bin" "${run[@]}" --set train.ema_decay=0.9 --out "$tmp/ema" > /dev/null 2>&1 || { echo "FAIL: training"; exit 1; }
[[ -f "$tmp/ema/ema.safetensors" ]] || { echo "FAIL: no ema.safetensors"; exit 1; }
got=$("$bin" eval "$tmp/ema/ema.safetensors" --json) || { echo "FAIL: eval of ema.safetensors"; exit 1; }
python3 - "$got" "$tmp/ema/metrics.jsonl" <<'PY' || exit 1
import json, sys
got = json.loads(sys.argv[1])
last = [json.loads(l) for l in open(sys.argv[2]) if l.strip()][-1]
assert abs(got['test_acc'] - last['ema_test_acc']) < 1e-12, (got, last)
assert abs(got['test_loss'] - last['ema_test_loss']) < 1e-6 * max(1, abs(last['ema_test_loss'])), (got, last)
PY
"$bin" export "$tmp/ema/ema.safetensors" --format safetensors --out "$tmp/ema_export.safetensors" > /dev/null ||
  { echo "FAIL: export of ema.safetensors"; exit 1; }
"$bin" "${run[@]}" --out "$tmp/plain" > /dev/null 2>&1
[[ ! -e "$tmp/plain/ema.safetensors" ]] || { echo "FAIL: ema.safetensors without train.ema_decay"; exit 1; }
echo "ema_model: passed"
