#!/usr/bin/env bash
# The bad-input suite, part 2 (part 1: bad_input.sh): damaged files of every format the program
# reads (CIFAR binary, IDX raw and gzip, PNG/JPEG folders, safetensors model files, checkpoints),
# huge declared dimensions, NaN/Inf values, impossible config values, unwritable and full output
# folders, and SIGKILL during checkpoint writes. Each case: exit 2, one stderr line naming the file or
# key, no crash and no sanitizer report; after the kills, every checkpoint left verifies.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); mounts=()
cleanup() { for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0; passes=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }

# expect PATTERN -- ARGS...: exit 2, stderr one line matching PATTERN, no sanitizer output.
expect() {
  local pattern=$1; shift 2
  local err rc
  rm -rf "$tmp/o"  # the --out of most cases
  err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [[ $rc -ne 2 ]] || ! grep -qE -- "$pattern" <<<"$err" || [[ $(wc -l <<<"$err") -ne 1 ]]; then
    fail "cvtrain ${*:1:3}... -> exit $rc, stderr: $err (wanted exit 2 and /$pattern/)"
  else
    passes=$((passes+1))
  fi
}

R=$src/recipes/fashion_cnn.yaml
quick=(--set train.epochs=1 --set train.progress=false --set data.limit_train=64 --set data.limit_test=64)
synthetic=(--set data.dataset=synthetic "${quick[@]}")

python3 - "$tmp" <<'PY'
import gzip, json, os, struct, sys, zlib
tmp = sys.argv[1]
def w(rel, data):
    p = os.path.join(tmp, rel); os.makedirs(os.path.dirname(p), exist_ok=True); open(p, 'wb').write(data)
def idx(magic, dims, payload):
    return struct.pack('>I', magic) + b''.join(struct.pack('>I', d) for d in dims) + payload
good_lab, good_img = idx(0x801, [8], bytes(i % 10 for i in range(8))), idx(0x803, [8, 28, 28], bytes(8 * 784))
def mnist(d, train_images, train_labels=good_lab, gz=False):
    for name, b in [('train-images-idx3-ubyte', train_images), ('train-labels-idx1-ubyte', train_labels),
                    ('t10k-images-idx3-ubyte', good_img), ('t10k-labels-idx1-ubyte', good_lab)]:
        w(f'{d}/{name}' + ('.gz' if gz else ''), gzip.compress(b) if gz else b)
mnist('idx_huge', idx(0x803, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], bytes(64)))
mnist('idx_zero', idx(0x803, [0, 0xFFFFFFFF, 0xFFFFFFFF], b''))
mnist('idx_hugegz', idx(0x803, [60000, 30000, 30000], bytes(4096)), gz=True)
mnist('idx_float', idx(0x0D03, [8, 28, 28], bytes(8 * 784 * 4)))
mnist('idx_trunc', good_img[:-100])
mnist('idx_count', good_img, idx(0x801, [7], bytes(7)))
mnist('idx_label', good_img, idx(0x801, [8], bytes([0, 1, 2, 250, 4, 5, 6, 7])))
mnist('idx_corruptgz', good_img, gz=True)
p = os.path.join(tmp, 'idx_corruptgz/train-images-idx3-ubyte.gz'); b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0xFF; open(p, 'wb').write(bytes(b))

rec10 = lambda label: bytes([label]) + bytes(3072)
for i in range(1, 6): w(f'c10_trunc/data_batch_{i}.bin', rec10(1) * 2)
w('c10_trunc/test_batch.bin', rec10(1) * 2)
w('c10_trunc/data_batch_3.bin', rec10(1) * 2 + rec10(1)[:1000])
for i in range(1, 6): w(f'c10_label/data_batch_{i}.bin', rec10(1) * 2)
w('c10_label/test_batch.bin', rec10(1) * 2)
w('c10_label/data_batch_4.bin', rec10(1) + rec10(77))
w('c100_empty/train.bin', b''); w('c100_empty/test.bin', bytes([1, 2]) + bytes(3072))

def png(wd, ht, color_type=0, bit_depth=8, rows=None, idat=None):
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    data = idat if idat is not None else zlib.compress(b''.join(b'\x00' + r for r in rows))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', wd, ht, bit_depth, color_type, 0, 0, 0))
            + chunk(b'IDAT', data) + chunk(b'IEND', b''))
ok = png(8, 8, rows=[bytes((x * 37 + y * 11) % 256 for x in range(8)) for y in range(8)])
for case, bad in [('trunc', ok[:len(ok) - 30]), ('huge', png(60000, 60000, 2, idat=zlib.compress(b'\x00' * 64))),
                  ('text', b'hello, not an image\n'), ('jpeg', b'\xff\xd8\xff\xe0' + bytes(40))]:
    for split in ('train', 'test'):
        for cls in ('a', 'b'):
            for k in range(2): w(f'img_{case}/{split}/{cls}/{k}.png', ok)
    w(f'img_{case}/train/b/bad.png', bad)

# Model files (safetensors): bad JSON, an offset past the end, NaN weights, an Inf std.
def st(tensors, meta):
    header, blob = {'__metadata__': meta}, b''
    for name, shape, data in tensors:
        header[name] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [len(blob), len(blob) + len(data)]}; blob += data
    h = json.dumps(header).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + blob
meta = {'format': 'cvtrain-model-1', 'config': 'data:\n  dataset: synthetic\nmodel:\n  name: mlp\n',
        'preprocess': json.dumps({'mean': [0.5], 'std': [0.25]})}
w('m_json.safetensors', struct.pack('<Q', 16) + b'{"a": [1, 2, 3  ')
w('m_past.safetensors', st([('x', [4], bytes(16))], meta)[:-4])
w('m_dims.safetensors', st([('x', [0, 2**40, 2**40], b'')], meta))
w('m_std.safetensors', st([], dict(meta, preprocess='{"mean": [0.5], "std": [1e999]}')))
w('m_cfg.safetensors', st([], dict(meta, config='train:\n  batch_size: -4\n')))
PY

# IDX: huge declared dimensions (raw and gzip), an element type we do not read, truncation, counts
# that disagree, a label out of range, a corrupt gzip stream.
expect "idx_huge/train-images-idx3-ubyte: truncated: header declares" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_huge" --out "$tmp/o"
expect "idx_zero/train-images-idx3-ubyte: IDX header declares dimensions 0x4294967295x4294967295 too large" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_zero" --out "$tmp/o"
expect "idx_hugegz/train-images-idx3-ubyte.gz: header declares .* more than the [0-9]+-byte gzip file can hold" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_hugegz" --out "$tmp/o"
expect "idx_float/train-images-idx3-ubyte: unsupported IDX element type 0x0d" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_float" --out "$tmp/o"
expect "idx_trunc/train-images-idx3-ubyte: truncated" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_trunc" --out "$tmp/o"
expect "idx_count/train-labels-idx1-ubyte: 7 labels for the 8 images" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_count" --out "$tmp/o"
expect "idx_label/train-labels-idx1-ubyte.*250" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_label" --out "$tmp/o"
expect "idx_corruptgz/train-images-idx3-ubyte.gz: gzip" -- train "$R" "${quick[@]}" --set data.root="$tmp/idx_corruptgz" --out "$tmp/o"

# CIFAR binary: a partial record (in the third file), a label out of range (in the fourth: the
# message must name that file), an empty file.
c10=(--set data.dataset=cifar10 --set model.name=mlp)
expect "c10_trunc/data_batch_3.bin: 7146 bytes is not a whole number of 3073-byte" -- train "$R" "${quick[@]}" "${c10[@]}" --set data.root="$tmp/c10_trunc" --out "$tmp/o"
expect "c10_label/data_batch_4.bin: label 77 of record 1 is out of range" -- train "$R" "${quick[@]}" "${c10[@]}" --set data.root="$tmp/c10_label" --out "$tmp/o"
expect "c100_empty/train.bin: 0 bytes" -- train "$R" "${quick[@]}" --set data.dataset=cifar100 --set model.name=mlp --set data.root="$tmp/c100_empty" --out "$tmp/o"

# Image folders (data.on_bad_file=fail): a truncated PNG, a PNG header declaring 60000x60000
# pixels in a few bytes, a text file named .png, a JPEG that stops after its signature.
img=(--set data.dataset=image_folder --set model.name=mlp --set data.on_bad_file=fail)
for case in trunc huge text jpeg; do
  expect "img_$case/train/b/bad.png" -- train "$R" "${quick[@]}" "${img[@]}" --set data.root="$tmp/img_$case" --out "$tmp/o"
done
# ... and with on_bad_file=skip the run goes on without the bad file.
if "$bin" train "$R" "${quick[@]}" "${img[@]}" --set data.on_bad_file=skip --set data.root="$tmp/img_huge" --out "$tmp/skip" >/dev/null 2>"$tmp/skip.err"; then
  passes=$((passes+1)); else fail "on_bad_file=skip did not skip the 60000x60000 PNG: $(cat "$tmp/skip.err")"; fi

# Model files for eval: broken JSON, data past the end, dimensions whose product overflows, an
# infinite std in the normalization, an impossible value in the stored config.
expect "m_json.safetensors: header is not valid JSON" -- eval "$tmp/m_json.safetensors"
expect "m_past.safetensors" -- eval "$tmp/m_past.safetensors"
expect "m_dims.safetensors: tensor 'x'" -- eval "$tmp/m_dims.safetensors"
expect "m_std.safetensors: preprocess" -- eval "$tmp/m_std.safetensors"
expect "m_cfg.safetensors.*train.batch_size: must be in \[1, 1048576\]" -- eval "$tmp/m_cfg.safetensors"

# Configs: NaN and Inf, a list or a mapping where a number goes, a key that is not a string, a top
# level that is a list, values out of range, a crop larger than the image.
printf 'optim:\n  lr: .nan\n' > "$tmp/nan.yaml"
expect "nan.yaml: optim.lr: expected a finite number, got '.nan'" -- train "$tmp/nan.yaml" "${synthetic[@]}" --out "$tmp/o"
expect "--set optim.lr: expected a finite number, got '.inf'" -- train "$R" "${synthetic[@]}" --set optim.lr=.inf --out "$tmp/o"
expect "--set model.init_scale: expected a finite number, got '-.inf'" -- train "$R" "${synthetic[@]}" --set model.init_scale=-.inf --out "$tmp/o"
printf 'train:\n  epochs: [1, 2]\n' > "$tmp/list.yaml"
expect "list.yaml: train.epochs: expected an integer, got a list" -- train "$tmp/list.yaml" "${synthetic[@]}" --out "$tmp/o"
printf 'optim:\n  lr: {a: 1}\n' > "$tmp/map.yaml"
expect "map.yaml: optim.lr: expected a number, got a mapping" -- train "$tmp/map.yaml" "${synthetic[@]}" --out "$tmp/o"
printf '? [a, b]\n: 1\n' > "$tmp/key.yaml"
expect "key.yaml: .*key" -- train "$tmp/key.yaml" "${synthetic[@]}" --out "$tmp/o"
printf -- '- train\n- epochs\n' > "$tmp/toplist.yaml"
expect "toplist.yaml: expected a mapping" -- train "$tmp/toplist.yaml" "${synthetic[@]}" --out "$tmp/o"
expect "data.val_fraction: must be in \[0, 1\)" -- train "$R" "${synthetic[@]}" --set data.val_fraction=1.5 --out "$tmp/o"
expect "threads: must be >= 0" -- train "$R" "${synthetic[@]}" --set threads=-2 --out "$tmp/o"
expect "train.epochs: must be in \[1, 100000\]" -- train "$R" "${synthetic[@]}" --set train.epochs=0 --out "$tmp/o"
expect "data.augment.*crop: size 64x64 is larger than" -- train "$R" "${synthetic[@]}" --set 'data.augment=[{name: crop, size: 64}]' --out "$tmp/o"
expect "data.augment\[0\]: missing 'name'" -- train "$R" "${synthetic[@]}" --set 'data.augment=[{p: 0.5}]' --out "$tmp/o"

# Every config the fuzzer found a crash with (tests/fuzz/regression/inputs/config) is refused cleanly.
for f in "$src"/tests/fuzz/regression/inputs/config/*; do
  expect "${f##*/}" -- config "$f"
done

# Output folders: read-only and full (a 64 KiB tmpfs where mounting is allowed; otherwise a file-size
# limit, with SIGXFSZ ignored so the write fails with EFBIG as a full disk fails with ENOSPC).
if mkdir -p "$tmp/ro" "$tmp/full" && mount -t tmpfs -o ro,size=64k tmpfs "$tmp/ro" 2>/dev/null; then
  mounts+=("$tmp/ro")
  expect "ro/run: cannot create the output folder: Read-only file system" -- train "$R" "${synthetic[@]}" --out "$tmp/ro/run"
  mount -t tmpfs -o size=64k tmpfs "$tmp/full" && mounts+=("$tmp/full")
  expect "full/run/.*: write failed: No space left on device" -- train "$R" "${synthetic[@]}" --out "$tmp/full/run"
  [[ -e "$tmp/full/run/model.safetensors" ]] && fail "a run on a full disk left model.safetensors"
  ls "$tmp"/full/run/*.tmp.* >/dev/null 2>&1 && fail "a failed write left a temporary file"
else
  echo "(no tmpfs: the full disk is a file-size limit)"
  err=$( (trap '' XFSZ; ulimit -f 64; "$bin" train "$R" "${synthetic[@]}" --out "$tmp/full/run" 2>&1 >/dev/null) ); rc=$?
  if [[ $rc -eq 2 && $(wc -l <<<"$err") -eq 1 && "$err" == *"full/run/"*"write failed: File too large"* ]]; then
    passes=$((passes+1)); else fail "file-size limit -> exit $rc, stderr: $err"; fi
fi

# Killed after its last checkpoint, before model.safetensors: the resume has nothing left to train and
# writes no checkpoint, and still sweeps the killed writes' temporaries.
"$bin" train "$R" --set data.dataset=synthetic --set data.limit_train=64 --set train.epochs=1 --set train.progress=false \
  --out "$tmp/late" > /dev/null 2>&1
rm "$tmp/late/model.safetensors"
: > "$tmp/late/best.safetensors.tmp.4194305"; : > "$tmp/late/checkpoints/step-00000001.safetensors.tmp.4194305"
: > "$tmp/late/steps.jsonl.tmp.4194305"  # the logs are rewritten whole, the same way
"$bin" train --resume "$tmp/late" > /dev/null 2>&1 || fail "resume of a run killed after its last checkpoint"
if compgen -G "$tmp/late/*.tmp.*" > /dev/null || compgen -G "$tmp/late/checkpoints/*.tmp.*" > /dev/null; then
  fail "a resume with nothing to train left the killed writes' temporaries"; else passes=$((passes+1)); fi

# SIGKILL during checkpoint writes: a checkpoint every step, killed at 3 different moments (the first
# as soon as a checkpoint's temporary file appears, i.e. inside a write). What is left must verify
# (the resume skips nothing as damaged) and the run must finish from it, leaving no temporary files.
ck=(train "$R" --set data.dataset=synthetic --set data.limit_train=384 --set train.epochs=1 --set train.progress=false
    --set train.batch_size=32 --set train.checkpoint_every_steps=1 --set train.keep_last=3)
for delay in write 0.6 1.4; do
  run="$tmp/kill$delay"
  "$bin" "${ck[@]}" --out "$run" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 1 1000); do [[ -e "$run/checkpoints" ]] && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
  if [[ $delay == write ]]; then
    for _ in $(seq 1 200000); do compgen -G "$run/checkpoints/*.tmp*" >/dev/null && break; kill -0 $pid 2>/dev/null || break; done
  else
    sleep "$delay"
  fi
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if [[ -e "$run/model.safetensors" ]]; then echo "(kill at $delay: the run had finished)"; continue; fi
  echo "(kill at $delay: $(ls "$run/checkpoints" | grep -c 'safetensors$') checkpoints, $(ls "$run/checkpoints" | grep -c '\.tmp') partial writes left)"
  # a killed write's temporary (pid above Linux's pid_max), in case the kill did not land inside one
  : > "$run/checkpoints/step-00000001.safetensors.tmp.4194305"
  : > "$run/best.safetensors.tmp.4194305"  # and a model file's, written in the run folder,
  : > "$run/metrics.jsonl.tmp.4194305"     # and a log's (the logs are rewritten whole, the same way)
  "$bin" train --resume "$run" >/dev/null 2>"$run.err"; rc=$?
  if [[ $rc -ne 0 ]] || grep -q "damaged" "$run.err" || [[ ! -e "$run/model.safetensors" ]]; then
    fail "resume after SIGKILL at $delay: exit $rc, $(cat "$run.err")"; else passes=$((passes+1)); fi
  if compgen -G "$run/checkpoints/*.tmp.*" >/dev/null || compgen -G "$run/*.tmp.*" >/dev/null; then
    fail "the resumed run left the killed write's temporary file:" "$run"/*.tmp.* "$run"/checkpoints/*.tmp.*;
  else passes=$((passes+1)); fi
done

echo "bad input (files): $passes passed, $fails failed"
[[ $fails -eq 0 ]]
