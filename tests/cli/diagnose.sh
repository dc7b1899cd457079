#!/usr/bin/env bash
# `cvtrain diagnose` end to end on the synthetic data set: the lecture's tanh recipe shrunk to width
# 128 writes diagnostics.json with the documented fields, two PNG pictures and a vanishing-signal
# warning; Kaiming with ReLU gives none of that; bad activation and init names exit 2 naming the key.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
small=(--set data.dataset=synthetic --set model.width=128 --set train.batch_size=64)

"$bin" diagnose "$src/recipes/lecture/init_tanh_std001.yaml" "${small[@]}" --out "$tmp/a" > "$tmp/a.log"
for f in diagnostics.json activations.png gradients.png; do
  [[ -s "$tmp/a/$f" ]] || { echo "FAIL: missing $f"; cat "$tmp/a.log"; exit 1; }
done
[[ $(head -c 4 "$tmp/a/activations.png" | tail -c 3) == PNG ]] || { echo "FAIL: activations.png is not a PNG"; exit 1; }
grep -q "warning: vanishing signal" "$tmp/a.log" || { echo "FAIL: no vanishing-signal warning"; cat "$tmp/a.log"; exit 1; }
python3 - "$tmp/a/diagnostics.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
need = {'name', 'act_mean', 'act_std', 'frac_zero', 'frac_saturated', 'grad_std', 'hist'}
tanh = [l for l in d['layers'] if l['type'] == 'Tanh']
assert len(tanh) == 6, len(tanh)
for l in d['layers']:
    assert need <= set(l), need - set(l)
    assert len(l['hist']['edges']) == len(l['hist']['counts']) + 1
stds = [l['act_std'] for l in tanh]
assert all(b < a for a, b in zip(stds, stds[1:])), stds
assert any('vanishing signal' in w for w in d['warnings']), d['warnings']
PY

"$bin" diagnose "$src/recipes/lecture/init_relu_kaiming.yaml" "${small[@]}" --out "$tmp/b" > "$tmp/b.log"
if grep -q "vanishing signal\|saturation\|dead ReLU" "$tmp/b.log"; then echo "FAIL: kaiming+relu warned"; cat "$tmp/b.log"; exit 1; fi

set +e
"$bin" diagnose "$src/recipes/lecture/init_relu_kaiming.yaml" "${small[@]}" --set model.activation=swish --out "$tmp/c" 2> "$tmp/c.err"
rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "model.activation: unknown activation 'swish'" "$tmp/c.err" || { echo "FAIL: bad activation (rc $rc)"; cat "$tmp/c.err"; exit 1; }
set +e
"$bin" diagnose "$src/recipes/lecture/init_relu_kaiming.yaml" "${small[@]}" --set model.init=he --out "$tmp/d" 2> "$tmp/d.err"
rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "model.init: unknown init scheme 'he'" "$tmp/d.err" || { echo "FAIL: bad init (rc $rc)"; cat "$tmp/d.err"; exit 1; }
echo "diagnose: 1 passed, 0 failed"
