#!/usr/bin/env bash
# Augmentation, loader workers, TTA and the new datasets through the program: bad data.augment
# entries exit 2 naming the entry and parameter; training with augmentation gives the same model
# for 0 and 2 loader workers; eval --tta runs every mode; CIFAR-10 binary files and a PNG image
# folder written here in the real formats train; bad dataset files exit 2 naming the file.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0
expect_error() {  # expect_error TEXT ARGS...: exit code 2 and TEXT on stderr
  local text=$1; shift
  set +e; "$bin" "$@" > /dev/null 2> "$tmp/err"; local rc=$?; set -e
  [[ $rc -eq 2 ]] || { echo "FAIL: exit $rc (want 2) for: $*"; cat "$tmp/err"; exit 1; }
  grep -qF -- "$text" "$tmp/err" || { echo "FAIL: '$text' not in: $(cat "$tmp/err")"; exit 1; }
  pass=$((pass + 1))
}

cat > "$tmp/bad.yaml" <<'YAML'
data:
  augment:
    - {name: hflip, p: 0.5}
    - {name: crop, padding: 2}
    - {name: random_resized_crop, scale: [0.5, 2]}
YAML
expect_error "data.augment[2].scale" config "$tmp/bad.yaml"
expect_error "data.augment[0].name: unknown augmentation 'rotat'" config --set 'data.augment=[{name: rotat}]'
expect_error "data.augment[0].padding_mode: expected one of zero|reflect|edge" config --set 'data.augment=[{name: crop, padding_mode: wrap}]'
expect_error "data.augment[0].p" config --set 'data.augment=[{name: hflip, p: 2}]'
expect_error "data.on_bad_file" config --set data.on_bad_file=ignore
expect_error "data.preprocess" config --set data.preprocess=whiten
expect_error "data.augment[0]:1: duplicate key 'p'" config --set 'data.augment=[{name: hflip, p: 0.5, p: 1}]'

# An entry without p takes torchvision's default for the transform, which `cvtrain augmentations`
# lists and the resolved config shows.
"$bin" augmentations | grep -A1 '^hflip ' | grep -qE '^ +p +0\.5 ' || { echo "FAIL: augmentations: no p 0.5 under hflip"; exit 1; }
"$bin" config --set 'data.augment=[{name: hflip}, {name: crop}]' > "$tmp/resolved.yaml"
grep -qF '{name: hflip, p: 0.5}' "$tmp/resolved.yaml" && grep -qF '{name: crop, p: 1}' "$tmp/resolved.yaml" ||
  { echo "FAIL: resolved p of hflip/crop:"; grep -A3 augment "$tmp/resolved.yaml"; exit 1; }
pass=$((pass + 1))

args=(train "$src/recipes/fashion_cnn_aug.yaml" --set data.dataset=synthetic --set train.epochs=1
      --set train.progress=false --set train.batch_size=32 --set optim.lr=0.02 --set data.limit_train=256
      --set data.limit_test=64)
"$bin" "${args[@]}" --set data.workers=0 --out "$tmp/w0" > /dev/null
"$bin" "${args[@]}" --set data.workers=2 --out "$tmp/w2" > /dev/null
# The model files differ in their metadata (data.workers); the training itself must not.
python3 - "$tmp/w0/metrics.jsonl" "$tmp/w2/metrics.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
for ra, rb in zip(a, b):
    for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert ra[k] == rb[k], "0 and 2 workers differ in %s: %r vs %r" % (k, ra[k], rb[k])
PY
pass=$((pass + 1))
for t in none flip 5crop 10crop; do
  "$bin" eval "$tmp/w0" --tta $t --json | python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r['tta'] == '$t' and r['images'] == 64 and 0 <= r['test_acc'] <= 1, r"
done
pass=$((pass + 1))
expect_error "--tta: expected none, flip, 5crop or 10crop" eval "$tmp/w0" --tta 3crop

# CIFAR-10 binary files (1 label byte + 3072 pixel bytes per record) and a PNG image folder
# (train/ and test/; data.val_fraction is tested in tests/data until cmd_train passes it on).
python3 - "$tmp" <<'PY'
import os, struct, sys, zlib
tmp = sys.argv[1]
c = os.path.join(tmp, "cifar")
os.makedirs(c)
def records(n, seed):
    out = bytearray()
    for i in range(n):
        label = (i + seed) % 10
        out.append(label)
        out += bytes(((label * 25 + k % 7) % 256) for k in range(3072))
    return bytes(out)
for b in range(1, 6):
    open(os.path.join(c, "data_batch_%d.bin" % b), "wb").write(records(20, b))
open(os.path.join(c, "test_batch.bin"), "wb").write(records(20, 0))
open(os.path.join(c, "bad_batch.bin"), "wb").write(records(2, 0)[:-5])

def png(path, w, h, value):  # 8-bit grayscale PNG
    raw = b"".join(b"\x00" + bytes([value] * w) for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    open(path, "wb").write(data)
for split in ("train", "test"):
    for cls, value in (("dark", 40), ("light", 200)):
        d = os.path.join(tmp, "folder", split, cls)
        os.makedirs(d)
        for i in range(12 if split == "train" else 4):
            png(os.path.join(d, "%02d.png" % i), 16, 16, value + i)
PY
"$bin" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=cifar10 --set data.root="$tmp/cifar" \
  --set train.epochs=1 --set train.progress=false --set train.batch_size=25 --out "$tmp/cifar_run" > /dev/null
pass=$((pass + 1))
"$bin" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=image_folder --set data.root="$tmp/folder" \
  --set train.epochs=1 --set train.progress=false --set train.batch_size=6 \
  --out "$tmp/folder_run" > /dev/null
pass=$((pass + 1))
cp "$tmp/cifar/bad_batch.bin" "$tmp/cifar/data_batch_3.bin"
expect_error "data_batch_3.bin: 6141 bytes is not a whole number of 3073-byte cifar10 records" \
  train "$src/recipes/fashion_cnn.yaml" --set data.dataset=cifar10 --set data.root="$tmp/cifar" --out "$tmp/x"
printf 'not a png' > "$tmp/folder/train/dark/99.png"
expect_error "99.png: neither a PNG nor a JPEG" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=image_folder \
  --set data.root="$tmp/folder" --out "$tmp/y"
rm "$tmp/folder/train/dark/99.png"; mkdir "$tmp/folder/train/empty"
expect_error "empty: class folder has no .png/.jpg/.jpeg images" train "$src/recipes/fashion_cnn.yaml" \
  --set data.dataset=image_folder --set data.root="$tmp/folder" --out "$tmp/z"
echo "augment: $pass passed, 0 failed"
