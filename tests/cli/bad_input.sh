#!/usr/bin/env bash
# Bad input to the program: every case must exit 2 with a one-line message naming the key or file,
# and a failed `train` must not leave an output folder that looks finished (no model.safetensors).
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0; passes=0

# expect CODE PATTERN -- ARGS...: runs the program, checks the exit code and that stderr is one
# line matching PATTERN.
expect() {
  local code=$1 pattern=$2; shift 3
  local err rc
  err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [[ $rc -ne $code ]] || ! grep -qE -- "$pattern" <<<"$err" || [[ $(wc -l <<<"$err") -ne 1 ]]; then
    echo "FAIL: cvtrain $* -> exit $rc, stderr: $err (wanted exit $code and /$pattern/)"; fails=$((fails+1))
  else
    passes=$((passes+1))
  fi
}

synthetic=(--set data.dataset=synthetic --set train.epochs=1 --set train.progress=false)
printf 'train:\n  epoch: 3\n' > "$tmp/typo.yaml"
expect 2 "train.epoch'.*did you mean 'train.epochs'" -- train "$tmp/typo.yaml" --out "$tmp/o1"
printf 'train:\n  epochs: three\n' > "$tmp/type.yaml"
expect 2 "train.epochs: expected an integer, got 'three'" -- train "$tmp/type.yaml" --out "$tmp/o2"
printf 'train: [1, 2\n' > "$tmp/broken.yaml"
expect 2 "broken.yaml:.*invalid YAML" -- train "$tmp/broken.yaml" --out "$tmp/o3"
expect 2 "train.batch_size: must be in \[1, 1048576\]" -- train "$src/recipes/fashion_cnn.yaml" --set train.batch_size=-4 --out "$tmp/o4"
expect 2 "model.name: unknown model 'resnet9000'" -- train "$src/recipes/fashion_cnn.yaml" "${synthetic[@]}" --set model.name=resnet9000 --out "$tmp/o5"
expect 2 "optim.name: unknown optimizer 'adamx'" -- train "$src/recipes/fashion_cnn.yaml" --set optim.name=adamx --out "$tmp/o6"
expect 2 "--set: unknown key 'optim.lrr'" -- train "$src/recipes/fashion_cnn.yaml" --set optim.lrr=0.1 --out "$tmp/o7"
# A key named twice (YAML parsers keep the last) and knobs that would have no effect in the run.
printf 'train:\n  epochs: 2\noptim:\n  lr: 0.1\ntrain:\n  batch_size: 8\n' > "$tmp/dup.yaml"
expect 2 "dup.yaml:5: duplicate key 'train' \(first at line 1\)" -- train "$tmp/dup.yaml" --out "$tmp/o7d"
printf 'optim:\n  lr: 0.1\n  momentum: 0.5\n  momentum: 0\n' > "$tmp/dup2.yaml"
expect 2 "dup2.yaml:4: duplicate key 'optim.momentum' \(first at line 3\)" -- train "$tmp/dup2.yaml" --out "$tmp/o7e"
expect 2 "optim.momentum: onecycle cycles the momentum.*optim.cycle_momentum: false" -- train "$src/recipes/fashion_cnn.yaml" --set optim.momentum=0 --out "$tmp/o7f"
expect 2 "model.dropout: model 'resnet20' has no dropout layer" -- train "$src/recipes/fashion_resnet20.yaml" "${synthetic[@]}" --set model.dropout=0.3 --out "$tmp/o7g"
expect 2 "optim.alpha: no effect with optim.name sgd \(only rmsprop uses it\)" -- train "$src/recipes/fashion_cnn.yaml" --set optim.alpha=0.9 --out "$tmp/o7h"
expect 2 "optim.trust_coefficient: no effect with optim.name sgd \(only lars uses it\)" -- train "$src/recipes/fashion_cnn.yaml" --set optim.trust_coefficient=0.01 --out "$tmp/o7h2"
expect 2 "optim.name: lamb runs on the CPU only so far; with device: cuda use sgd, adam, adamw" -- train "$src/recipes/fashion_cnn.yaml" --set optim.name=lamb --set device=cuda --out "$tmp/o7h3"
expect 2 "model.reset_head: no effect without model.init_from" -- train "$src/recipes/fashion_cnn.yaml" --set model.reset_head=10 --out "$tmp/o7h4"
expect 2 "data.augment\[0\].value: no effect with mode random" -- train "$src/recipes/fashion_cnn.yaml" --set 'data.augment=[{name: erasing, mode: random, value: 0.5}]' --out "$tmp/o7h5"
expect 2 "data.augment\[0\]: grayscale has no effect on 1-channel images" -- train "$src/recipes/fashion_cnn.yaml" "${synthetic[@]}" --set 'data.augment=[{name: grayscale}]' --out "$tmp/o7h6"
for o in o7d o7e o7f o7g o7h o7h2 o7h3 o7h4 o7h5 o7h6; do [[ ! -e "$tmp/$o" ]] || { echo "FAIL: a refused run wrote $tmp/$o"; fails=$((fails+1)); }; done
expect 2 "unknown subcommand 'trian' \(did you mean 'train'\?\)" -- trian "$src/recipes/fashion_cnn.yaml"
expect 2 "data.root: /usr/share/datasets/fashion-mnist is where Debian puts fashion_mnist, and data.dataset is mnist" -- train "$src/recipes/fashion_cnn.yaml" --set data.root=/usr/share/datasets/fashion-mnist --set data.dataset=mnist --out "$tmp/o7m"
[[ ! -e "$tmp/o7m" ]] || { echo "FAIL: a refused run wrote $tmp/o7m"; fails=$((fails+1)); }
expect 2 "--set nonsense: expected key.path=value" -- train "$src/recipes/fashion_cnn.yaml" --set nonsense --out "$tmp/o8"
expect 2 "$tmp/missing.yaml: cannot open" -- train "$tmp/missing.yaml"
expect 2 "/nonexistent/data" -- train "$src/recipes/fashion_cnn.yaml" --set data.root=/nonexistent/data --out "$tmp/o9"

# Corrupt IDX files: a truncated gzip and a wrong magic number.
mkdir -p "$tmp/trunc" "$tmp/magic"
python3 - "$tmp" <<'PY'
import gzip, struct, sys, os
tmp = sys.argv[1]
def idx(path, magic, dims, payload, compress=True, cut=None):
    data = struct.pack('>I', magic) + b''.join(struct.pack('>I', d) for d in dims) + payload
    raw = gzip.compress(data) if compress else data
    open(path, 'wb').write(raw[:cut] if cut else raw)
for d in ('trunc', 'magic'):
    base = os.path.join(tmp, d)
    idx(f'{base}/train-labels-idx1-ubyte.gz', 0x801, [64], bytes(i % 10 for i in range(64)))
    idx(f'{base}/t10k-images-idx3-ubyte.gz', 0x803, [64, 28, 28], bytes(64 * 784))
    idx(f'{base}/t10k-labels-idx1-ubyte.gz', 0x801, [64], bytes(i % 10 for i in range(64)))
idx(f'{tmp}/trunc/train-images-idx3-ubyte.gz', 0x803, [64, 28, 28], bytes(range(256)) * 196, cut=300)
idx(f'{tmp}/magic/train-images-idx3-ubyte.gz', 0x0A0B0803, [64, 28, 28], bytes(64 * 784))
PY
expect 2 "trunc/train-images-idx3-ubyte.gz" -- train "$src/recipes/fashion_cnn.yaml" --set data.root="$tmp/trunc" --out "$tmp/o10"
expect 2 "magic/train-images-idx3-ubyte.gz:.*magic" -- train "$src/recipes/fashion_cnn.yaml" --set data.root="$tmp/magic" --out "$tmp/o11"

# An output folder that cannot be created (a path through a regular file).
touch "$tmp/afile"
expect 2 "afile/run: cannot create the output folder" -- train "$src/recipes/fashion_cnn.yaml" "${synthetic[@]}" --out "$tmp/afile/run"

# A NaN loss stops the run, names the step, and leaves no model file.
expect 2 "step [0-9]+ .*loss is (NaN|infinite|diverging)" -- train "$src/recipes/fashion_cnn.yaml" "${synthetic[@]}" --set optim.lr=1e30 --set optim.schedule=constant --out "$tmp/nan"
if [[ -e "$tmp/nan/model.safetensors" ]]; then echo "FAIL: a failed run left model.safetensors"; fails=$((fails+1)); else passes=$((passes+1)); fi

# eval of things that are not model files.
expect 2 "$tmp/none: no such model file" -- eval "$tmp/none"
printf 'garbage' > "$tmp/bad.safetensors"
expect 2 "bad.safetensors" -- eval "$tmp/bad.safetensors"
expect 2 "config is required" -- train   # missing argument: a usage error

echo "bad input: $passes passed, $fails failed"
[[ $fails -eq 0 ]]
