#!/usr/bin/env bash
# Weights from elsewhere: a model trained briefly on the synthetic set, its weights saved as a bare
# state_dict (no metadata, DataParallel "module." names, no num_batches_tracked, as PyTorch may save
# them); `cvtrain import` with the recipe writes a model file that evaluates as the run did, and eval,
# predict and export take --config RECIPE --weights FILE directly. Every ambiguous or missing
# combination of run, --config and --weights, and a state_dict with missing, unexpected and mis-shaped
# tensors exits 2 with one line naming them all.
set -uo pipefail
bin=$1; src=$2
command -v python3 > /dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
recipe=$tmp/recipe.yaml
cat > "$recipe" <<YAML
seed: 0
threads: 2
data: {dataset: synthetic, limit_train: 256, limit_test: 128}
model: {name: cnn}
train: {epochs: 1, batch_size: 32, progress: false, plots: false, tensorboard: false}
YAML
"$bin" train "$recipe" --out "$tmp/run" > "$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; exit 1; }
python3 - "$tmp/run/model.safetensors" "$tmp" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n]); header.pop('__metadata__')
data = raw[8 + n:]
def write(path, entries):  # entries: (name, header entry, bytes)
    h, chunks, off = {}, [], 0
    for name, e, b in entries:
        h[name] = {'dtype': e['dtype'], 'shape': e['shape'], 'data_offsets': [off, off + len(b)]}
        chunks.append(b); off += len(b)
    hb = json.dumps(h).encode(); hb += b' ' * (-len(hb) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(hb)) + hb + b''.join(chunks))
items = [(k, e, data[e['data_offsets'][0]:e['data_offsets'][1]]) for k, e in header.items()]
write(sys.argv[2] + '/plain.safetensors', items)
write(sys.argv[2] + '/dp.safetensors', [('module.' + k, e, b) for k, e, b in items if 'num_batches_tracked' not in k])
bad = [(k, e, b) for k, e, b in items if k not in ('net.0.weight', 'net.5.running_var')]
bad += [('net.99.weight', {'dtype': 'F32', 'shape': [2]}, bytes(8))]
bad = [(k, {'dtype': 'F32', 'shape': [3, 3]}, bytes(36)) if k == 'net.12.bias' else (k, e, b) for k, e, b in bad]
write(sys.argv[2] + '/bad.safetensors', bad)
PY

acc() { python3 -c "import json,sys; print(json.load(sys.stdin)['test_acc'])"; }
want=$("$bin" eval "$tmp/run" --json | acc)
"$bin" import --config "$recipe" --weights "$tmp/dp.safetensors" --out "$tmp/imported.safetensors" > "$tmp/import.log" \
  || fail "import: $(cat "$tmp/import.log")"
grep -q "fitted on the recipe's training data" "$tmp/import.log" || fail "import says where the normalization comes from"
[[ $("$bin" eval "$tmp/imported.safetensors" --json | acc) == "$want" ]] || fail "eval of the imported file"
[[ $("$bin" eval --config "$recipe" --weights "$tmp/plain.safetensors" --json | acc) == "$want" ]] || fail "eval --config --weights"
# the imported file equals the run's model file tensor for tensor, and carries the same preprocessing
python3 - "$tmp/run/model.safetensors" "$tmp/imported.safetensors" <<'PY' || fail "imported file differs from the run's"
import json, struct, sys
def read(p):
    raw = open(p, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; h = json.loads(raw[8:8 + n])
    meta = h.pop('__metadata__')
    return {k: raw[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]] for k, v in h.items()}, meta
(a, ma), (b, mb) = read(sys.argv[1]), read(sys.argv[2])
assert set(a) == set(b), set(a) ^ set(b)
for k in a:
    assert a[k] == b[k] or k.endswith('num_batches_tracked'), k
assert json.loads(ma['preprocess']) == json.loads(mb['preprocess']) and ma['input'] == mb['input']
PY
"$bin" export --config "$recipe" --weights "$tmp/plain.safetensors" --format safetensors --out "$tmp/exp.safetensors" \
  > /dev/null || fail "export --config --weights"
# predict: the first positional is an image when --config names the model
python3 - "$tmp/img.png" <<'PY'
import struct, sys, zlib
raw = b''.join(b'\x00' + bytes((7 * x + 13 * y) % 256 for x in range(28)) for y in range(28))
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 28, 28, 8, 0, 0, 0, 0))
                             + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
"$bin" predict "$tmp/run" "$tmp/img.png" "$tmp/img.png" --json | sed 's/"model":"[^"]*"//' > "$tmp/p1.json" || fail "predict run"
"$bin" predict --config "$recipe" --weights "$tmp/plain.safetensors" "$tmp/img.png" "$tmp/img.png" --json \
  | sed 's/"model":"[^"]*"//' > "$tmp/p2.json" || fail "predict --config --weights"
cmp -s "$tmp/p1.json" "$tmp/p2.json" || fail "predict --config --weights differs from the run's: $(cat "$tmp/p1.json" "$tmp/p2.json")"

expect2() {  # expect2 WHAT PATTERN ARGS...: exit 2 and a one-line message matching PATTERN
  local what=$1 pattern=$2; shift 2
  "$bin" "$@" > "$tmp/out" 2> "$tmp/err"; local rc=$?
  [[ $rc -eq 2 && $(wc -l < "$tmp/err") -eq 1 ]] && grep -q -- "$pattern" "$tmp/err" || { fail "$what (rc $rc): $(cat "$tmp/err")"; }
}
expect2 "state_dict without --config" "needs --config" eval "$tmp/run" --weights "$tmp/plain.safetensors"
expect2 "--config without --weights" "needs --weights" eval --config "$recipe"
expect2 "run and --config" "not both" eval "$tmp/run" --config "$recipe" --weights "$tmp/plain.safetensors"
expect2 "--config with --weights ema" "names a file of a run folder" export --config "$recipe" --weights ema --out "$tmp/x.onnx"
expect2 "nothing to read" "give a run folder" eval
expect2 "state_dict as a model file" "cvtrain import" eval "$tmp/plain.safetensors"
expect2 "missing weights file" "no such file" import --config "$recipe" --weights "$tmp/none.safetensors" --out "$tmp/y.safetensors"
expect2 "every bad tensor" "net.0.weight.*net.5.running_var.*net.99.weight.*net.12.bias" \
  import --config "$recipe" --weights "$tmp/bad.safetensors" --out "$tmp/z.safetensors"
[[ -e $tmp/z.safetensors ]] && fail "a refused import wrote its output"
expect2 "init_from with --weights" "model.init_from" import --config "$recipe" --set model.init_from="$tmp/run" \
  --weights "$tmp/plain.safetensors" --out "$tmp/w.safetensors"
mkdir "$tmp/dir"
expect2 "a folder as output" "refusing to write" import --config "$recipe" --weights "$tmp/plain.safetensors" --out "$tmp/dir"
[[ $fails -eq 0 ]] && echo "import_weights: passed"
exit $((fails > 0))
