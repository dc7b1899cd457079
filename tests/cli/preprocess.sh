#!/usr/bin/env bash
# data.preprocess beyond per-channel normalization: the transform is fitted on the training set,
# applied in training and evaluation, stored in the model file ("preprocess_fit"), and `cvtrain
# eval` of the saved model reproduces the last epoch's test accuracy with it (well above the 25% of
# chance on the four synthetic classes).
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for mode in pca_whiten zca; do
  components=(); [[ $mode == pca_whiten ]] && components=(--set data.preprocess_components=32)  # zca keeps all
  "$bin" train "$src/recipes/fashion_mlp.yaml" --set data.dataset=synthetic --set train.epochs=2 \
    --set train.progress=false --set train.batch_size=32 --set optim.lr=0.02 --set data.preprocess=$mode \
    "${components[@]}" --set data.whiten_epsilon=0.01 --out "$tmp/$mode" > "$tmp/$mode.log"
  python3 - "$tmp/$mode/model.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
meta = json.loads(raw[8:8 + n])['__metadata__']
assert 'preprocess_fit' in meta, 'the fitted preprocessing is not in the model file'
PY
  last=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['test_acc'])" "$tmp/$mode/metrics.jsonl")
  again=$("$bin" eval "$tmp/$mode" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['test_acc'])")
  [[ "$last" == "$again" ]] || { echo "FAIL: $mode: eval gives $again, training ended at $last"; exit 1; }
  python3 -c "import sys; assert float(sys.argv[1]) > 0.5, sys.argv[1]" "$last" || { echo "FAIL: $mode accuracy $last"; exit 1; }
done
echo "preprocess: 2 passed, 0 failed"
