#!/usr/bin/env bash
# The bad-input suite, part 3: input that asks for unbounded work or memory, and input the program used
# to accept silently. Each case: exit 2 and one stderr line naming the file or key.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0; passes=0

expect() {  # expect PATTERN -- ARGS...
  local pattern=$1; shift 2
  local err rc
  err=$(timeout 120 "$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [[ $rc -ne 2 ]] || ! grep -qE -- "$pattern" <<<"$err" || [[ $(wc -l <<<"$err") -ne 1 ]]; then
    echo "FAIL: cvtrain $* -> exit $rc, stderr: $err (wanted exit 2 and /$pattern/)"; fails=$((fails+1))
  else
    passes=$((passes+1))
  fi
}
R=$src/recipes/fashion_cnn.yaml
syn=(--set data.dataset=synthetic --set data.limit_train=64 --set data.limit_test=32 --set train.epochs=1
     --set train.progress=false)

# Configs that are not YAML files, or too large to be one.
expect "/dev/zero: not a regular file" -- train /dev/zero --out "$tmp/o"
expect "$tmp: not a regular file" -- train "$tmp" --out "$tmp/o"
head -c 2000000 /dev/zero | tr '\0' 'a' > "$tmp/huge.yaml"
expect "huge.yaml: 2000000 bytes; a config is at most" -- train "$tmp/huge.yaml" --out "$tmp/o"

# A gzip IDX whose header declares far more images than the compressed file can hold: refused before
# anything is inflated or allocated.
mkdir -p "$tmp/lie"
python3 - "$tmp/lie" <<'PY'
import gzip, struct, sys
d = sys.argv[1]
def idx(name, magic, dims, payload):
    open(f'{d}/{name}', 'wb').write(gzip.compress(struct.pack('>I', magic) + b''.join(struct.pack('>I', x) for x in dims) + payload, 9))
idx('train-images-idx3-ubyte.gz', 0x803, [2**31, 28, 28], bytes(4_000_000))
idx('train-labels-idx1-ubyte.gz', 0x801, [64], bytes(64))
idx('t10k-images-idx3-ubyte.gz', 0x803, [64, 28, 28], bytes(64 * 784))
idx('t10k-labels-idx1-ubyte.gz', 0x801, [64], bytes(64))
PY
expect "train-images-idx3-ubyte.gz: header declares 2147483648x28x28 values .* more than the [0-9]+-byte gzip file can hold" \
  -- train "$R" --set data.root="$tmp/lie" --out "$tmp/o"

# Values that would allocate or loop without end.
expect "train.batch_size: must be in \[1, 1048576\]" -- train "$R" --set train.batch_size=100000000 --out "$tmp/o"
expect "train.epochs: must be in \[1, 100000\]" -- schedule "$R" --set train.epochs=1000000000
expect "train.epochs: the schedule has [0-9]+ steps" -- schedule "$R" "${syn[@]}" --set data.limit_train=0 \
  --set train.batch_size=1 --set train.epochs=100000
expect "data.augment\[0\].size: 100000 is outside \[0, 4096\]" -- train "$R" \
  --set 'data.augment=[{name: random_resized_crop, size: 100000}]' --out "$tmp/o"
expect "--steps: Value 0 not in range 1 to 100000" -- bench "$R" --steps 0
# A batch larger than the dataset trains (one batch) without allocating for the batch size.
if timeout 60 "$bin" train "$R" "${syn[@]}" --set train.batch_size=1000000 --out "$tmp/big_batch" > /dev/null 2>&1; then
  passes=$((passes+1))
else
  echo "FAIL: train.batch_size 1000000 on 64 images did not train"; fails=$((fails+1))
fi

# Image folders: links, folders and FIFOs named like images are reported, not skipped silently.
python3 - "$tmp/imf" <<'PY'
import os, struct, sys, zlib
root = sys.argv[1]
def png(path, w, h):
    raw = b''.join(b'\0' + bytes((x * 30 + y * 7) % 256 for x in range(w)) for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
for split, side in (('train', 8), ('test', 8), ('test_wide', 10)):
    for c in 'ab':
        os.makedirs(f'{root}/{split}/{c}', exist_ok=True)
        for i in range(4):
            png(f'{root}/{split}/{c}/{i}.png', side, side)
PY
ln -s "$tmp/missing.png" "$tmp/imf/train/b/dangling.png"
img=(--set data.dataset=image_folder --set model.name=mlp --set train.batch_size=4 --set train.epochs=1
     --set train.progress=false)
expect "train/b/dangling.png: a dangling symbolic link, not an image file" -- train "$R" "${img[@]}" \
  --set data.root="$tmp/imf" --out "$tmp/o"
rm "$tmp/imf/train/b/dangling.png"; mkfifo "$tmp/imf/train/b/pipe.png"
expect "train/b/pipe.png: a FIFO, not an image file" -- train "$R" "${img[@]}" --set data.root="$tmp/imf" --out "$tmp/o"
err=$(timeout 60 "$bin" train "$R" "${img[@]}" --set data.root="$tmp/imf" --set data.on_bad_file=skip \
  --out "$tmp/skip" 2>&1 >/dev/null); rc=$?
if [[ $rc -eq 0 ]] && grep -q "skipped 1 bad image.*pipe.png: a FIFO" <<<"$err"; then passes=$((passes+1));
else echo "FAIL: on_bad_file skip: exit $rc, stderr $err"; fails=$((fails+1)); fi
rm "$tmp/imf/train/b/pipe.png"
ln -s "$tmp/imf/train/a" "$tmp/imf/train/a/loop.png"
expect "loop.png: a folder, not an image file" -- train "$R" "${img[@]}" --set data.root="$tmp/imf" --out "$tmp/o"
rm "$tmp/imf/train/a/loop.png"

ln -s loop.png "$tmp/imf/train/a/loop.png"
expect "loop.png: a symbolic link loop, not an image file" -- train "$R" "${img[@]}" --set data.root="$tmp/imf" --out "$tmp/o"
rm "$tmp/imf/train/a/loop.png"
ln -s zz "$tmp/imf/train/zz"  # a class-folder link loop is no class (and no internal error)
if timeout 60 "$bin" train "$R" "${img[@]}" --set data.root="$tmp/imf" --out "$tmp/loopclass" > /dev/null 2>&1; then
  passes=$((passes+1)); else echo "FAIL: a link loop among the class folders stopped the run"; fails=$((fails+1)); fi
rm "$tmp/imf/train/zz"

# Splits that cannot go together are refused before training.
mv "$tmp/imf/test" "$tmp/imf/test_ok"; mv "$tmp/imf/test_wide" "$tmp/imf/test"
expect "training images are 1x8x8 \(CxHxW\) but test images are 1x10x10" -- train "$R" "${img[@]}" \
  --set data.root="$tmp/imf" --out "$tmp/o"

# An empty test split is refused before training (it would report 0.00%).
mkdir -p "$tmp/emptytest"
python3 - "$tmp/emptytest" <<'PY'
import gzip, struct, sys
d = sys.argv[1]
def idx(name, magic, dims, payload):
    open(f'{d}/{name}', 'wb').write(gzip.compress(struct.pack('>I', magic) + b''.join(struct.pack('>I', x) for x in dims) + payload))
idx('train-images-idx3-ubyte.gz', 0x803, [64, 28, 28], bytes(64 * 784))
idx('train-labels-idx1-ubyte.gz', 0x801, [64], bytes(i % 10 for i in range(64)))
idx('t10k-images-idx3-ubyte.gz', 0x803, [0, 28, 28], b'')
idx('t10k-labels-idx1-ubyte.gz', 0x801, [0], b'')
PY
expect "the test split is empty" -- train "$R" --set data.root="$tmp/emptytest" --set train.epochs=1 --out "$tmp/o"

# A model file with a NaN weight is refused by eval, naming the tensor.
"$bin" train "$R" "${syn[@]}" --set model.name=mlp --out "$tmp/run" > /dev/null 2>&1
python3 - "$tmp/run/model.safetensors" "$tmp/nan.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
name = next(k for k in header if k != '__metadata__' and header[k]['dtype'] == 'F32')
start = 8 + n + header[name]['data_offsets'][0]
body = bytearray(data)
body[start:start + 4] = struct.pack('<f', float('nan'))
open(sys.argv[2], 'wb').write(bytes(body))
PY
expect "nan.safetensors: tensor '.*' holds a non-finite value" -- eval "$tmp/nan.safetensors"
expect "nan.safetensors: tensor '.*' holds a non-finite value" -- ensemble "$tmp/run" "$tmp/nan.safetensors"

# Metadata that asks for more than the file holds: a deep_mlp of width 65536 and depth 1000 in a
# small file, and a normalization of 3 channels for 1-channel images.
python3 - "$tmp/run/model.safetensors" "$tmp" <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
def write(name, edit):
    h = json.loads(data[8:8 + n]); edit(h['__metadata__'])
    b = json.dumps(h).encode(); b += b' ' * ((8 - len(b) % 8) % 8)
    open(f'{sys.argv[2]}/{name}', 'wb').write(struct.pack('<Q', len(b)) + b + data[8 + n:])
def huge(m):
    m['config'] = m['config'].replace('name: mlp', 'name: deep_mlp').replace('width: 4096', 'width: 65536').replace('depth: 6', 'depth: 1000')
def channels(m):
    p = json.loads(m['preprocess']); p['mean'] = [0.1, 0.2, 0.3]; p['std'] = [0.3, 0.3, 0.3]; m['preprocess'] = json.dumps(p)
write('huge.safetensors', huge)
write('channels.safetensors', channels)
PY
for cmd in eval predict export; do
  extra=(); [[ $cmd == predict ]] && extra=("$tmp/imf/test_ok/a/0.png"); [[ $cmd == export ]] && extra=(--out "$tmp/x.onnx")
  expect "huge.safetensors: the stored config describes a deep_mlp of about [0-9]+ parameters, but the file holds at most" \
    -- "$cmd" "$tmp/huge.safetensors" "${extra[@]}"
  expect "channels.safetensors: preprocess: 3 channel means for 1-channel images" -- "$cmd" "$tmp/channels.safetensors" "${extra[@]}"
done

# predict on things that are not image files, and control characters in a name (escaped on stderr).
mkfifo "$tmp/pipe.png"
expect "$tmp: a folder; give the image files in it" -- predict "$tmp/run" "$tmp"
expect "pipe.png: not a regular file \(a device or a pipe\)" -- predict "$tmp/run" "$tmp/pipe.png"
printf 'x' > "$tmp/bad$(printf '\033')[31m.png"
err=$("$bin" predict "$tmp/run" "$tmp/bad$(printf '\033')[31m.png" 2>&1 >/dev/null)
if grep -q 'bad\\x1b\[31m.png' <<<"$err" && ! grep -q $'\033' <<<"$err"; then passes=$((passes+1));
else echo "FAIL: control characters reached stderr raw: $(cat -v <<<"$err")"; fails=$((fails+1)); fi

# model.init_from with another architecture's weights: refused unless model.init_strict is false.
expect "model.init_from: .*supplies 0 of the model's tensors.*model.init_strict: false" -- train "$R" "${syn[@]}" \
  --set model.init_from="$tmp/run" --out "$tmp/o"

echo "bad input (bounds): $passes passed, $fails failed"
[[ $fails -eq 0 ]]
