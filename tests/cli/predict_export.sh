#!/usr/bin/env bash
# cvtrain predict and export end to end: a model trained briefly on the synthetic set predicts 100
# Fashion-MNIST test images (IDX with indices); the same pixels as PNG files (gray, RGB) and JPEG give
# the same logits; probabilities sum to 1 with the dataset's class names; the ONNX export gives the
# same logits through OpenCV (within 1e-4, where built) and the safetensors export through PyTorch's
# own classes (where installed); export from a checkpoint equals export from the model file. Damaged
# model files and bad arguments exit 2 with one line naming the tensor, file or option.
set -uo pipefail
bin=$1; src=$2
tools=$(dirname "$bin")/tests
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
idx=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
[[ -f $idx ]] || { echo "SKIP: $idx absent (dataset-fashion-mnist)"; exit 77; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }

train() {  # train NAME MODEL [--set ...]
  local name=$1 model=$2; shift 2
  "$bin" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set model.name="$model" \
    --set train.epochs=1 --set data.limit_train=64 --set data.limit_test=32 --set train.batch_size=32 \
    --set train.progress=false "$@" --out "$tmp/$name" > "$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; exit 1; }
}
train cnn cnn --set train.checkpoint_every_steps=2
train resnet20 resnet20

# predict: 100 IDX images as JSON
"$bin" predict "$tmp/cnn" "$idx:0-99" --json --topk 2 > "$tmp/cnn.json" || fail "predict cnn"
# The model file carries its input shape and class names, so predict reads no dataset; of --set it
# takes only the keys it reads (threads, the CPU runtime), and refuses the others before any output.
"$bin" predict "$tmp/cnn" "$idx:0-99" --json --topk 2 --set threads=2 --set train.precision=fp32 \
  > "$tmp/cnn_threads.json" || fail "predict --set threads=2"
cmp -s "$tmp/cnn.json" "$tmp/cnn_threads.json" || fail "predict with the run's own threads and precision gave other output"
err=$("$bin" predict "$tmp/cnn" "$idx:0-99" --json --set data.dataset=cifar10 2>&1); rc=$?
[[ $rc -eq 2 ]] && grep -q -- "--set data.dataset: on a stored model, predict reads only threads" <<<"$err" ||
  fail "predict --set data.dataset: exit $rc: $err"
err=$("$bin" export "$tmp/cnn" --format safetensors --out "$tmp/refused.safetensors" --set optim.lr=1 2>&1); rc=$?
[[ $rc -eq 2 && ! -e "$tmp/refused.safetensors" ]] && grep -q -- "--set optim.lr: on a stored model, export reads only data.root, data.on_bad_file" <<<"$err" ||
  fail "export --set optim.lr: exit $rc: $err"
/usr/bin/env python3 - "$tmp/cnn.json" <<'PY' || fail "predict JSON"
import json, math, sys
j = json.load(open(sys.argv[1]))
p = j["predictions"]
assert len(p) == 100 and p[17]["input"].endswith(":17"), len(p)
for r in p:
    assert len(r["top"]) == 2 and len(r["logits"]) == 4
    z = r["logits"]; m = max(z); s = sum(math.exp(v - m) for v in z)
    assert abs(r["top"][0]["prob"] - math.exp(z[r["top"][0]["class"]] - m) / s) < 1e-9
    assert r["top"][0]["prob"] >= r["top"][1]["prob"]
    assert r["top"][0]["name"] in ("hstripes", "vstripes", "square", "cross")
PY

# the same pixels as PNG (gray and RGB) and as a lossless-enough JPEG check: same logits as the IDX rows
/usr/bin/env python3 - "$idx" "$tmp" <<'PY' || fail "writing PNGs"
import gzip, struct, sys, zlib
raw = gzip.open(sys.argv[1]).read()
def png(path, rows, channels):
    body = b"".join(b"\0" + bytes(r) for r in rows)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", 28, 28, 8, 0 if channels == 1 else 2, 0, 0, 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b""))
for i in (3, 42):
    img = raw[16 + 784 * i: 16 + 784 * (i + 1)]
    rows = [img[28 * r: 28 * (r + 1)] for r in range(28)]
    png(f"{sys.argv[2]}/gray{i}.png", rows, 1)
    png(f"{sys.argv[2]}/rgb{i}.png", [bytes(v for p in r for v in (p, p, p)) for r in rows], 3)
PY
"$bin" predict "$tmp/cnn" "$tmp/gray3.png" "$tmp/rgb3.png" "$tmp/gray42.png" "$idx:3,42" --json > "$tmp/png.json" || fail "predict PNG"
/usr/bin/env python3 - "$tmp/png.json" <<'PY' || fail "PNG logits differ from the IDX rows"
import json, sys
p = json.load(open(sys.argv[1]))["predictions"]
assert p[0]["logits"] == p[3]["logits"] == p[1]["logits"], (p[0]["logits"], p[3]["logits"])
assert p[2]["logits"] == p[4]["logits"]
PY
"$bin" predict "$tmp/cnn" "$tmp/gray3.png" > "$tmp/text.out" || fail "predict text"
grep -qE "gray3.png  (hstripes|vstripes|square|cross)  [01]\.[0-9]{4}" "$tmp/text.out" || fail "text output: $(cat "$tmp/text.out")"

# ONNX through OpenCV on the 100 images (export_zoo_onnx is built only where ONNX was found)
onnx=1; [[ -x "$tools/export_zoo_onnx" ]] || { onnx=0; echo "SKIP ONNX export: built without ONNX"; }
for m in cnn resnet20; do
  "$bin" predict "$tmp/$m" "$idx:0-99" --json > "$tmp/$m.json" || fail "predict $m"
  [[ $onnx -eq 1 ]] || continue
  "$bin" export "$tmp/$m" --format onnx --out "$tmp/$m.onnx" > /dev/null || fail "export $m"
  "$bin" export "$tmp/$m" --format onnx --fold-bn --out "$tmp/${m}_folded.onnx" > /dev/null || fail "export $m --fold-bn"
  if [[ -x "$tools/onnx_opencv_check" ]]; then
    "$tools/onnx_opencv_check" "$tmp/$m.onnx" "$idx" 0 100 "$tmp/$m.json" 1e-4 || fail "OpenCV $m"
    "$tools/onnx_opencv_check" "$tmp/${m}_folded.onnx" "$idx" 0 100 "$tmp/$m.json" 1e-4 || fail "OpenCV $m folded"
  else
    echo "SKIP OpenCV comparison: onnx_opencv_check not built"
  fi
done

# safetensors: the state_dict under PyTorch's names; from the checkpoint it is the same weights
"$bin" export "$tmp/cnn" --format safetensors --out "$tmp/cnn_export.safetensors" > /dev/null || fail "export safetensors"
ck=$(ls "$tmp/cnn/checkpoints/"*.safetensors 2>/dev/null | tail -1)
if [[ -n $ck ]]; then
  "$bin" export "$ck" --format safetensors --out "$tmp/cnn_ck.safetensors" > /dev/null || fail "export from checkpoint"
  /usr/bin/env python3 - "$tmp/cnn_export.safetensors" "$tmp/cnn_ck.safetensors" <<'PY' || fail "checkpoint export differs"
import json, struct, sys
def weights(path):
    raw = open(path, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop("__metadata__")
    return h, raw[8 + n:]
assert weights(sys.argv[1]) == weights(sys.argv[2])
PY
  "$bin" predict "$ck" "$idx:0-99" --json > "$tmp/ck.json" && cmp -s <(python3 -c "import json,sys; print([p['logits'] for p in json.load(open(sys.argv[1]))['predictions']])" "$tmp/ck.json") \
    <(python3 -c "import json,sys; print([p['logits'] for p in json.load(open(sys.argv[1]))['predictions']])" "$tmp/cnn.json") || fail "predict from the checkpoint differs"
else
  fail "no checkpoint written"
fi
"$bin" eval "$tmp/cnn_export.safetensors" > /dev/null || fail "eval of the exported model file"
"$bin" export "$tmp/resnet20" --format safetensors --out "$tmp/resnet20_export.safetensors" > /dev/null || fail "export resnet20"
for m in cnn resnet20; do
  out=$(/usr/bin/python3 "$src/tests/interop/scripts/torch_state_dict.py" "$tmp/${m}_export.safetensors" "$idx" 0 100 "$tmp/$m.json" 1e-4 2>&1)
  rc=$?
  if [[ $rc -eq 77 ]]; then echo "SKIP PyTorch load: $out"; elif [[ $rc -ne 0 ]]; then fail "PyTorch $m: $out"; else echo "$out"; fi
done

# bad input: exit 2, one line, naming the culprit
expect() {  # expect PATTERN ARGS...
  local pattern=$1; shift
  local err rc; err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [[ $rc -ne 2 ]] || ! grep -qE -- "$pattern" <<<"$err" || [[ $(wc -l <<<"$err") -ne 1 ]]; then
    fail "cvtrain $* -> exit $rc, stderr: $err (wanted exit 2 and /$pattern/)"
  fi
}
model=$tmp/cnn/model.safetensors
python3 - "$model" "$tmp" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
header, data = raw[8:8 + n].decode(), raw[8 + n:]
def write(name, h, d):
    h = h.encode(); open(f"{sys.argv[2]}/{name}", "wb").write(struct.pack("<Q", len(h)) + h + d)
i = header.index('"net.0.weight"')
write("dtype.safetensors", header[:i] + header[i:].replace("F32", "I32", 1), data)
write("shape.safetensors", header.replace('"shape":[32,1,3,3]', '"shape":[16,2,3,3]'), data)
write("truncated.safetensors", header, data[:-50])
open(f"{sys.argv[2]}/header.safetensors", "wb").write(struct.pack("<Q", 1 << 40) + raw[8:100])
write("json.safetensors", header.replace("{", "[", 1), data)
PY
expect "dtype.safetensors.*net.0.weight" predict "$tmp/dtype.safetensors" "$idx:0"
expect "shape.safetensors.*net.0.weight" export "$tmp/shape.safetensors" --out "$tmp/x.onnx"
expect "truncated.safetensors.*net.12.weight" predict "$tmp/truncated.safetensors" "$idx:0"
expect "header.safetensors: header length" predict "$tmp/header.safetensors" "$idx:0"
expect "json.safetensors: header is not valid JSON" export "$tmp/json.safetensors" --out "$tmp/x.onnx"
expect "no such model file" predict "$tmp/nothing.safetensors" "$idx:0"
expect "index 10000 is out of range" predict "$tmp/cnn" "$idx:10000"
expect "bad index 'x'" predict "$tmp/cnn" "$idx:x"
expect "no such file" predict "$tmp/cnn" "$tmp/missing.png"
expect "--topk must be at least 1" predict "$tmp/cnn" "$idx:0" --topk 0
expect "--format: expected onnx or safetensors, got 'tflite'" export "$tmp/cnn" --format tflite --out "$tmp/x"
head -c 5000 /dev/urandom > "$tmp/noise.bin"
expect "noise.bin: not a PNG, JPEG, IDX or CIFAR" predict "$tmp/cnn" "$tmp/noise.bin"
if /usr/bin/python3 -c "import PIL" 2>/dev/null; then
  /usr/bin/python3 -c "from PIL import Image; Image.new('RGB', (30, 20)).save('$tmp/big.jpg')"
  expect "big.jpg: the image is 20x30, the model takes 28x28" predict "$tmp/cnn" "$tmp/big.jpg"
fi
[[ ! -e "$tmp/x.onnx" ]] || fail "a failed export left $tmp/x.onnx"
exit $((fails > 0))
