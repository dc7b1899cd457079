#!/usr/bin/env bash
# Real photos: an image folder of PNG and JPEG files of different sizes, some gray some RGB, is
# refused as stored (the message suggests data.image_size), then trains with data.image_size,
# data.channels 3 and a fixed data.mean/std (stored in the model file as given); eval reproduces the
# last test accuracy; predict resizes its inputs as training did (an input Pillow resized gives the
# same logits), reports a corrupt PNG and a text file on one line each and predicts the rest (exit
# 2); export writes the image transform into the ONNX metadata_props, and ONNX Runtime on
# Pillow-prepared inputs agrees with predict within 1e-4 (where CVTRAIN_ORT_PYTHON, default
# /work/venv-torch2/bin/python, has onnxruntime; skipped with a message otherwise).
set -uo pipefail
bin=$1; src=$2
tools=$(dirname "$bin")/tests
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -c "import PIL" 2>/dev/null || { echo "SKIP: no Pillow for /usr/bin/python3 (python3-pil)"; exit 77; }
fails=0; passes=0
check() {  # check WHAT COMMAND...
  if "${@:2}"; then passes=$((passes+1)); else echo "FAIL: $1"; fails=$((fails+1)); fi
}

# Three classes of Fashion-MNIST-like shapes (a block, a bar, a ring) on noise, at random sizes
# (17..90 pixels a side), half gray and half RGB, half PNG and half JPEG.
/usr/bin/python3 - "$tmp/photos" <<'PY'
import os, random, sys
from PIL import Image, ImageDraw
rng = random.Random(3)
for split, n in (("train", 30), ("test", 8)):
    for k, cls in enumerate(("block", "bar", "ring")):
        os.makedirs(f"{sys.argv[1]}/{split}/{cls}")
        for i in range(n):
            w, h = rng.randint(17, 90), rng.randint(17, 90)
            mode = "L" if (i + k) % 2 else "RGB"
            img = Image.effect_noise((w, h), 40).convert(mode)
            d = ImageDraw.Draw(img)
            fill = 230 if mode == "L" else (230, rng.randint(100, 255), 90)
            if cls == "block":
                d.rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=fill)
            elif cls == "bar":
                d.rectangle((0, 2 * h // 5, w, 3 * h // 5), fill=fill)
            else:
                d.ellipse((w // 6, h // 6, 5 * w // 6, 5 * h // 6), outline=fill, width=max(2, min(w, h) // 8))
            img.save(f"{sys.argv[1]}/{split}/{cls}/{i:02d}." + ("png" if i % 3 else "jpg"), quality=92)
PY

common=(--set data.dataset=image_folder --set data.root="$tmp/photos" --set train.progress=false
        --set train.batch_size=16 --set train.epochs=2 --set optim.lr=0.05)
err=$("$bin" train "$src/recipes/fashion_cnn.yaml" "${common[@]}" --out "$tmp/refused" 2>&1 >/dev/null); rc=$?
check "a mixed folder as stored: exit 2 suggesting data.image_size (got $rc: $err)" \
  eval '[[ $rc -eq 2 ]] && grep -q "set data.image_size" <<<"$err" && [[ ! -e $tmp/refused ]]'

"$bin" train "$src/recipes/fashion_cnn.yaml" "${common[@]}" --set data.image_size=32 --set data.channels=3 \
  --set data.mean="[0.5, 0.45, 0.4]" --set data.std="[0.25, 0.25, 0.3]" --out "$tmp/run" > "$tmp/train.log" 2>&1
check "train on the mixed folder: $(tail -3 "$tmp/train.log")" grep -q "test accuracy" "$tmp/train.log"
check "the model file keeps the given mean/std and the input 3x32x32" /usr/bin/python3 - "$tmp/run/model.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
meta = json.loads(raw[8:8 + n])["__metadata__"]
pre = json.loads(meta["preprocess"])
assert [round(v, 6) for v in pre["mean"]] == [0.5, 0.45, 0.4] and [round(v, 6) for v in pre["std"]] == [0.25, 0.25, 0.3], pre
assert json.loads(meta["input"])["shape"] == [3, 32, 32], meta["input"]
assert "image_size: [32]" in meta["config"] and "channels: 3" in meta["config"]
PY
last=$(/usr/bin/python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['test_acc'])" "$tmp/run/metrics.jsonl")
again=$("$bin" eval "$tmp/run" --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['test_acc'])")
check "eval gives $again, training ended at $last" test "$last" = "$again"

# predict: the test photos, a corrupt PNG and a text file among them
good=("$tmp"/photos/test/*/*)
head -c 60 "$tmp/photos/test/bar/01.png" > "$tmp/corrupt.png"
echo "not an image" > "$tmp/notes.txt"
"$bin" predict "$tmp/run" "${good[@]:0:5}" "$tmp/corrupt.png" "${good[@]:5}" "$tmp/notes.txt" --json \
  > "$tmp/pred.json" 2> "$tmp/pred.err"; rc=$?
check "predict with two bad inputs exits 2 (got $rc)" test $rc -eq 2
check "one line per bad input: $(cat "$tmp/pred.err")" eval '[[ $(wc -l < "$tmp/pred.err") -eq 2 ]] &&
  grep -q "corrupt.png: corrupt PNG" "$tmp/pred.err" && grep -q "notes.txt: not a PNG, JPEG" "$tmp/pred.err"'
check "the ${#good[@]} good inputs are predicted, the bad ones listed" /usr/bin/python3 - "$tmp/pred.json" "${#good[@]}" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert len(j["predictions"]) == int(sys.argv[2]), len(j["predictions"])
assert [f["input"].rsplit("/", 1)[-1] for f in j["failed"]] == ["corrupt.png", "notes.txt"], j["failed"]
PY
"$bin" predict "$tmp/run" "${good[@]:0:3}" > "$tmp/pred.txt"; rc=$?
check "predict with good inputs only exits 0 (got $rc)" test $rc -eq 0

# predict's resize is torchvision's: the same photo resized by torchvision first gives the same logits
if /usr/bin/python3 -c "import torchvision" 2>/dev/null; then
  for photo in ring/00.jpg block/03.jpg bar/04.png; do  # RGB JPEG, gray JPEG, RGB PNG
    /usr/bin/python3 - "$tmp/photos/test/$photo" "$tmp/tv.png" <<'PY'
import sys
import torchvision.transforms as T
from PIL import Image
T.Compose([T.Resize(32), T.CenterCrop(32)])(Image.open(sys.argv[1]).convert("RGB")).save(sys.argv[2])
PY
    "$bin" predict "$tmp/run" "$tmp/photos/test/$photo" "$tmp/tv.png" --json > "$tmp/tv.json"
    check "predict's resize of $photo equals torchvision's Resize + CenterCrop" /usr/bin/python3 -c "
import json, sys
p = json.load(open(sys.argv[1]))['predictions']
assert p[0]['logits'] == p[1]['logits'], (p[0]['logits'], p[1]['logits'])" "$tmp/tv.json"
  done
else
  echo "SKIP torchvision comparison: no torchvision for /usr/bin/python3"
fi

# ONNX: the graph takes prepared images; the transform is in metadata_props
if [[ -x "$tools/export_zoo_onnx" ]]; then
  "$bin" export "$tmp/run" --format onnx --out "$tmp/run.onnx" > /dev/null
  check "export onnx" test -s "$tmp/run.onnx"
  if /usr/bin/python3 -c "import onnx" 2>/dev/null; then
    check "metadata_props name the image transform" /usr/bin/python3 -c "
import json, sys, onnx
m = onnx.load(sys.argv[1]); meta = {p.key: p.value for p in m.metadata_props}
t = json.loads(meta['cvtrain.image_transform'])
assert t['image_size'] == [32] and t['channels'] == 3, t
assert 'center-crop 32x32' in m.doc_string, m.doc_string
assert [round(v, 6) for v in json.loads(meta['cvtrain.normalization'])['mean']] == [0.5, 0.45, 0.4]" "$tmp/run.onnx"
  fi
  ort=${CVTRAIN_ORT_PYTHON:-/work/venv-torch2/bin/python}
  if [[ -x $ort ]] && "$ort" -c "import onnxruntime, onnx, PIL, numpy" 2>/dev/null; then
    "$bin" predict "$tmp/run" "${good[@]}" --json > "$tmp/all.json"
    out=$("$ort" "$src/tests/interop/scripts/onnx_ort_predict.py" "$tmp/run.onnx" "$tmp/all.json" 1e-4); rc=$?
    echo "$out"
    check "ONNX Runtime agrees with predict" test $rc -eq 0
  else
    echo "SKIP ONNX Runtime: $ort with onnxruntime, onnx, Pillow and numpy not found (set CVTRAIN_ORT_PYTHON)"
  fi
else
  echo "SKIP ONNX export: built without ONNX"
fi
echo "images: $passes passed, $fails failed"
exit $((fails > 0))
