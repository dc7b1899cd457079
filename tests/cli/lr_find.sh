#!/usr/bin/env bash
# cvtrain lr-find end to end: the JSON and PNG are written, the suggestion lies in the sweep, and a
# config typo is refused like any other command's.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$("$bin" lr-find "$src/recipes/fashion_mlp.yaml" --set data.dataset=synthetic --set data.limit_train=256 \
  --set train.batch_size=16 --min-lr 1e-4 --max-lr 10 --steps 60 --out "$tmp/lr" 2>&1) || { echo "$out"; echo "FAIL: lr-find"; exit 1; }
grep -q "suggested optim.lr" <<<"$out" || { echo "$out"; echo "FAIL: no suggestion printed"; exit 1; }
[[ -s "$tmp/lr/lr_find.png" ]] || { echo "FAIL: no lr_find.png"; exit 1; }
python3 - "$tmp/lr/lr_find.json" <<'PY' || exit 1
import json, sys
j = json.load(open(sys.argv[1]))
assert 10 <= len(j['lr']) <= 60 and len(j['loss']) == len(j['lr']) == len(j['smoothed']), 'lengths'
assert abs(j['lr'][0] - 1e-4) < 1e-9, j['lr'][0]
assert min(j['lr']) <= j['suggested_lr'] <= j['min_loss_lr'] <= max(j['lr']), 'suggestion outside the sweep'
PY
err=$("$bin" lr-find "$src/recipes/fashion_mlp.yaml" --set optim.lrr=1 2>&1 >/dev/null); rc=$?
[[ $rc -eq 2 ]] && grep -q "unknown key 'optim.lrr'" <<<"$err" || { echo "FAIL: typo: exit $rc, $err"; exit 1; }
echo "lr_find: passed"
