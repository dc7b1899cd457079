#!/usr/bin/env bash
# Transfer learning end to end on synthetic data: pretrain on classes 0-1, then a linear probe on
# classes 2-3 with 20 images each: the report (stdout and transfer.txt) lists loaded, skipped and
# new tensors; frozen weights leave training bitwise unchanged while the head moves; list- and
# mapping-valued keys round-trip through config.yaml; bad values exit 2 naming the key.
set -euo pipefail
bin=$1; src=$2
command -v python3 > /dev/null || exit 77
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=(--set data.dataset=synthetic --set train.epochs=1 --set train.progress=false --set train.batch_size=16
        --set train.tensorboard=false --set train.plots=false --set optim.lr=0.02)
"$bin" train "$src/recipes/fashion_mlp.yaml" "${common[@]}" --set data.classes=[0,1] --out "$tmp/pre" > /dev/null
probe=(train "$src/recipes/fashion_mlp.yaml" "${common[@]}" --set data.classes=[2,3] --set data.per_class=20
       --set model.init_from="$tmp/pre" --set model.reset_head=2)
"$bin" "${probe[@]}" --set model.freeze=backbone --out "$tmp/probe" > "$tmp/probe.log"
grep -q "4 loaded, 2 skipped, 2 newly initialized" "$tmp/probe.log" || { echo "FAIL: report"; cat "$tmp/probe.log"; exit 1; }
grep -q "(40 train, 128 test images)" "$tmp/probe.log" || { echo "FAIL: data.per_class/classes sizes"; cat "$tmp/probe.log"; exit 1; }
cmp -s <(grep -v "^cvtrain\|^epoch\|^test" "$tmp/probe.log") "$tmp/probe/transfer.txt" || { echo "FAIL: transfer.txt"; exit 1; }
python3 - "$tmp/pre/model.safetensors" "$tmp/probe/model.safetensors" <<'PY'
import json, struct, sys
def weights(path):
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop('__metadata__', None)
    return {k: raw[8 + n + v['data_offsets'][0]: 8 + n + v['data_offsets'][1]] for k, v in h.items()}
a, b = weights(sys.argv[1]), weights(sys.argv[2])
for k in ('net.1.weight', 'net.1.bias', 'net.4.weight', 'net.4.bias'):
    assert a[k] == b[k], f"{k} moved although frozen"
assert len(b['net.7.weight']) == 2 * 256 * 4, "head should have 2 classes"
PY
# fine-tuning with lr multipliers: everything moves except a layer at factor 0
"$bin" "${probe[@]}" --set optim.lr_mult="{net: 1, net.4: 0}" --out "$tmp/ft" > /dev/null
python3 - "$tmp/pre/model.safetensors" "$tmp/ft/model.safetensors" <<'PY'
import json, struct, sys
def weights(path):
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop('__metadata__', None)
    return {k: raw[8 + n + v['data_offsets'][0]: 8 + n + v['data_offsets'][1]] for k, v in h.items()}
a, b = weights(sys.argv[1]), weights(sys.argv[2])
assert a['net.4.weight'] == b['net.4.weight'] and a['net.1.weight'] != b['net.1.weight']
PY
grep -qF "lr_mult: {net: 1, net.4: 0}" "$tmp/ft/config.yaml" || { echo "FAIL: lr_mult in config.yaml"; exit 1; }
"$bin" config "$tmp/ft/config.yaml" > /dev/null || { echo "FAIL: config.yaml does not read back"; exit 1; }

set +e
"$bin" "${probe[@]}" --set model.reset_head=3 --out "$tmp/bad1" > "$tmp/e1" 2>&1
[[ $? -eq 2 ]] && grep -q "model.reset_head" "$tmp/e1" || { echo "FAIL: reset_head mismatch"; cat "$tmp/e1"; exit 1; }
"$bin" "${probe[@]}" --set model.freeze=[net.9] --out "$tmp/bad2" > "$tmp/e2" 2>&1
[[ $? -eq 2 ]] && grep -q "model.freeze" "$tmp/e2" || { echo "FAIL: freeze typo"; cat "$tmp/e2"; exit 1; }
"$bin" "${probe[@]}" --set data.classes=[2,7] --out "$tmp/bad3" > "$tmp/e3" 2>&1
[[ $? -eq 2 ]] && grep -q "data.classes" "$tmp/e3" || { echo "FAIL: class out of range"; cat "$tmp/e3"; exit 1; }
"$bin" "${probe[@]}" --set model.init_from="$tmp/nothing" --out "$tmp/bad4" > "$tmp/e4" 2>&1
[[ $? -eq 2 ]] && grep -q "model.init_from" "$tmp/e4" || { echo "FAIL: missing init_from"; cat "$tmp/e4"; exit 1; }
echo "transfer: passed"
