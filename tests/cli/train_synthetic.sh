#!/usr/bin/env bash
# End to end on the synthetic data set: train writes config.yaml, metrics.jsonl and
# model.safetensors; eval of the saved model reproduces the last epoch's test accuracy; a second
# run with the same seed and threads gives bitwise the same model; a finished run is not overwritten.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
args=(train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set train.epochs=2
      --set train.progress=false --set train.batch_size=32 --set optim.lr=0.02)

"$bin" "${args[@]}" --out "$tmp/a" > "$tmp/a.log"
for f in config.yaml metrics.jsonl model.safetensors; do
  [[ -s "$tmp/a/$f" ]] || { echo "FAIL: missing $f"; exit 1; }
done
[[ $(wc -l < "$tmp/a/metrics.jsonl") -eq 2 ]] || { echo "FAIL: metrics.jsonl should have 2 lines"; exit 1; }
python3 - "$tmp/a/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
need = {'epoch', 'train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr', 'images_per_s', 'seconds'}
for r in rows:
    assert need <= set(r), f"missing keys: {need - set(r)}"
assert rows[-1]['test_acc'] > 0.9, f"synthetic test accuracy too low: {rows[-1]['test_acc']}"
PY
last_acc=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['test_acc'])" "$tmp/a/metrics.jsonl")
eval_acc=$("$bin" eval "$tmp/a" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['test_acc'])")
[[ "$last_acc" == "$eval_acc" ]] || { echo "FAIL: eval gives $eval_acc, training ended at $last_acc"; exit 1; }

"$bin" "${args[@]}" --out "$tmp/b" > "$tmp/b.log"
cmp "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" || { echo "FAIL: same seed, different model"; exit 1; }

# train.diagnostics_every writes diagnostics.jsonl and leaves the training itself unchanged.
"$bin" "${args[@]}" --set train.diagnostics_every=16 --out "$tmp/d" > "$tmp/d.log"
[[ $(wc -l < "$tmp/d/diagnostics.jsonl") -eq 4 ]] || { echo "FAIL: diagnostics.jsonl should have 4 lines"; exit 1; }
python3 - "$tmp/a/model.safetensors" "$tmp/d/model.safetensors" <<'PY'
import json, struct, sys
def weights(path):
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n]); header.pop('__metadata__', None)
    return header, raw[8 + n:]
assert weights(sys.argv[1]) == weights(sys.argv[2]), "diagnostics changed the trained weights"
PY

if "$bin" "${args[@]}" --out "$tmp/a" > /dev/null 2>&1; then echo "FAIL: overwrote a finished run"; exit 1; fi
"$bin" config "$src/recipes/fashion_cnn.yaml" --set train.epochs=7 | grep -q "epochs: 7" || { echo "FAIL: config"; exit 1; }
echo "train_synthetic: 1 passed, 0 failed"
