#!/usr/bin/env bash
# Nothing a user does destroys a file: outputs that are symlinks, devices, FIFOs or folders; two
# trainings in one run folder; a checkpoint planted from another run; --set on --resume that would
# change what a checkpoint means; SIGINT during training (a checkpoint, the resume command, exit
# 130, and the resumed run equals an uninterrupted one); a diverging loss.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0; passes=0
check() {  # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then passes=$((passes+1)); else echo "FAIL: $what"; fails=$((fails+1)); fi
}
quick=(--set data.dataset=synthetic --set data.limit_train=256 --set data.limit_test=64 --set train.progress=false)

"$bin" train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --set train.epochs=1 --out "$tmp/run" > /dev/null 2>&1
check "a run to export from" test -f "$tmp/run/model.safetensors"

# Outputs: a symlink's target is written and the link stays; a FIFO gets the bytes; a folder is refused.
echo old > "$tmp/target.bin"
ln -s "$tmp/target.bin" "$tmp/link.bin"
"$bin" export "$tmp/run" --format safetensors --out "$tmp/link.bin" > /dev/null 2>&1
check "export --out SYMLINK keeps the link" test -L "$tmp/link.bin"
check "export --out SYMLINK writes the target" test "$(stat -c %s "$tmp/target.bin")" -gt 1000
mkfifo "$tmp/fifo"
(wc -c < "$tmp/fifo" > "$tmp/fifo.count") &
"$bin" export "$tmp/run" --format safetensors --out "$tmp/fifo" > /dev/null 2>&1; rc=$?
wait
check "export --out FIFO exits 0 (got $rc)" test "$rc" -eq 0
check "export --out FIFO streams the file" test "$(cat "$tmp/fifo.count")" -gt 1000
check "export --out FIFO leaves the FIFO" test -p "$tmp/fifo"
"$bin" preview "$src/recipes/fashion_cnn_aug.yaml" "${quick[@]}" --out /dev/null > /dev/null 2>&1; rc=$?
check "preview --out /dev/null exits 0 (got $rc)" test "$rc" -eq 0
check "/dev/null is still a character device" test -c /dev/null
err=$("$bin" export "$tmp/run" --out "$tmp" 2>&1 >/dev/null); rc=$?
check "export --out FOLDER: exit 2 naming it (got $rc: $err)" grep -q "$tmp: a folder" <<<"$err"
ln -s "$tmp/missing/file" "$tmp/dangling"
err=$("$bin" export "$tmp/run" --out "$tmp/dangling" 2>&1 >/dev/null); rc=$?
check "export --out DANGLING-LINK: exit 2 (got $rc: $err)" test "$rc" -eq 2

# Two trainings in one folder: the second is refused, naming the folder and the owner.
"$bin" train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --set data.limit_train=1024 --set train.epochs=40 \
  --out "$tmp/busy" > /dev/null 2>&1 &
owner=$!
for _ in $(seq 50); do [[ -s "$tmp/busy/.lock" ]] && break; sleep 0.1; done
err=$("$bin" train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --out "$tmp/busy" --overwrite 2>&1 >/dev/null); rc=$?
check "a second training in a busy folder: exit 2 naming the pid (got $rc: $err)" \
  grep -q "busy: in use by another cvtrain process (pid $owner)" <<<"$err"
kill -INT "$owner"; wait "$owner"; rc=$?
check "SIGINT ends the training with exit 130 (got $rc)" test "$rc" -eq 130
check "SIGINT left a checkpoint" compgen -G "$tmp/busy/checkpoints/step-*.safetensors" > /dev/null
check "SIGINT left no model file" test ! -e "$tmp/busy/model.safetensors"

# SIGINT, then --resume: the same weights as a run never interrupted.
args=(train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --set data.limit_train=2048 --set train.epochs=3)
"$bin" "${args[@]}" --out "$tmp/whole" > /dev/null 2>&1
"$bin" "${args[@]}" --out "$tmp/cut" > "$tmp/cut.log" 2>&1 &
pid=$!
for _ in $(seq 100); do compgen -G "$tmp/cut/checkpoints/step-*.safetensors" > /dev/null && break; sleep 0.05; done
kill -INT "$pid"; wait "$pid"; rc=$?
if [[ $rc -eq 130 ]]; then
  check "the interrupted run says how to resume" grep -q "continue with: cvtrain train --resume $tmp/cut" "$tmp/cut.log"
  "$bin" train --resume "$tmp/cut" > /dev/null 2>&1
  check "interrupted and resumed = uninterrupted" python3 "$src/tests/cli/safetensors_maxdiff.py" \
    "$tmp/cut/model.safetensors" "$tmp/whole/model.safetensors" 0
else
  check "the run was interrupted (it finished first? exit $rc)" test "$rc" -eq 0
fi

# A checkpoint planted from another run, and --set that would change what a checkpoint means.
"$bin" train "$src/recipes/fashion_mlp.yaml" "${quick[@]}" --set train.epochs=2 --out "$tmp/other" > /dev/null 2>&1
"$bin" train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --set train.epochs=2 --out "$tmp/mine" > /dev/null 2>&1
rm "$tmp/mine/model.safetensors"
cp "$tmp/other/checkpoints/step-00000004.safetensors" "$tmp/mine/checkpoints/step-00000099.safetensors"
err=$("$bin" train --resume "$tmp/mine" 2>&1 >/dev/null); rc=$?
check "a planted checkpoint: exit 2 (got $rc: $err)" grep -q "not this run's checkpoint" <<<"$err"
check "a planted checkpoint: no model written" test ! -e "$tmp/mine/model.safetensors"
rm "$tmp/mine/checkpoints/step-00000099.safetensors"
err=$("$bin" train --resume "$tmp/mine" --set optim.name=adam 2>&1 >/dev/null); rc=$?
check "--resume --set optim.name: exit 2 naming the optimizer (got $rc: $err)" \
  grep -q "optim.name: the checkpoint was written with optim.name sgd" <<<"$err"

# --out /dev/stdout redirected to a file appends to it (the same file, not a new one in its place).
seq 1 1000 > "$tmp/log.txt"; inode=$(stat -c %i "$tmp/log.txt")
"$bin" export "$tmp/run" --format safetensors --out /dev/stdout >> "$tmp/log.txt" 2>/dev/null
check "export --out /dev/stdout >> FILE keeps the file" test "$(stat -c %i "$tmp/log.txt")" = "$inode"
check "export --out /dev/stdout >> FILE keeps its lines" test "$(head -1 "$tmp/log.txt")" = "1"
check "export --out /dev/stdout | wc -c streams" test "$("$bin" export "$tmp/run" --format safetensors --out /dev/stdout 2>/dev/null | wc -c)" -gt 1000

# A checkpoint taken at train.max_steps mid-epoch resumes to the end (the epoch's evaluation), equal
# to the run never stopped; a run resumed with --set can be resumed again.
ms=(train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --set data.limit_train=1024 --set train.batch_size=16
    --set train.max_steps=20 --set train.checkpoint_every_steps=20)
"$bin" "${ms[@]}" --out "$tmp/ms_whole" > /dev/null 2>&1
"$bin" "${ms[@]}" --out "$tmp/ms" > /dev/null 2>&1
rm "$tmp/ms/model.safetensors"
"$bin" train --resume "$tmp/ms" > /dev/null 2>&1; rc=$?
check "resume of a checkpoint at max_steps: exit 0 (got $rc)" test "$rc" -eq 0
check "resume of a checkpoint at max_steps = the run never stopped" python3 "$src/tests/cli/safetensors_maxdiff.py" \
  "$tmp/ms/model.safetensors" "$tmp/ms_whole/model.safetensors" 0
"$bin" "${args[@]}" --set train.checkpoint_every_steps=1 --out "$tmp/twice" > /dev/null 2>&1
rm "$tmp/twice/model.safetensors"
"$bin" train --resume "$tmp/twice" --set train.epochs=4 > /dev/null 2>&1
rm -f "$tmp/twice/model.safetensors"
err=$("$bin" train --resume "$tmp/twice" 2>&1 >/dev/null); rc=$?
check "a run resumed with --set resumes again (got $rc: $err)" test "$rc" -eq 0

# A finished run goes on for more epochs with --resume --set train.epochs=N: with a constant lr the
# same weights as a run of N epochs; without --set it is refused, naming the way.
ext=(train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --set optim.schedule=constant)
"$bin" "${ext[@]}" --set train.epochs=2 --out "$tmp/ext" > /dev/null 2>&1
err=$("$bin" train --resume "$tmp/ext" 2>&1 >/dev/null); rc=$?
check "resume of a finished run without --set: exit 2 naming --set train.epochs (got $rc: $err)" \
  grep -q "continue it with --resume $tmp/ext --set train.epochs=N for N above 2" <<<"$err"
"$bin" train --resume "$tmp/ext" --set train.epochs=4 > /dev/null 2>&1
"$bin" "${ext[@]}" --set train.epochs=4 --out "$tmp/ext4" > /dev/null 2>&1
check "2 epochs continued to 4 = 4 epochs" python3 "$src/tests/cli/safetensors_maxdiff.py" \
  "$tmp/ext/model.safetensors" "$tmp/ext4/model.safetensors" 0

# A diverging loss (Adam at lr 1e6 stays finite) stops the run like a NaN.
err=$("$bin" train "$src/recipes/fashion_cnn.yaml" "${quick[@]}" --set optim.name=adam --set optim.lr=1e6 \
  --set optim.cycle_momentum=false --set train.epochs=1 --out "$tmp/div" 2>&1 >/dev/null); rc=$?
check "a diverging loss: exit 2 (got $rc: $err)" grep -qE "the loss is (diverging|NaN|infinite)" <<<"$err"

echo "data safety: $passes passed, $fails failed"
[[ $fails -eq 0 ]]
