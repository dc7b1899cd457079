#!/usr/bin/env bash
# The progress bar of evaluation: on a terminal (a pseudo-terminal from script(1)) `cvtrain eval`
# and the evaluation at the end of each training epoch draw "evaluating ..." bars on stderr; written
# to a pipe or file, neither prints one, so logs stay clean. Where no pseudo-terminal can be made (a
# chroot without /dev/pts) the terminal half is skipped, after the file half has run.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }

train=("$bin" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set train.epochs=1
       --set data.limit_test=256 --set train.eval_batch_size=32 --set data.val_fraction=0.25)
"${train[@]}" --out "$tmp/plain" > "$tmp/train_pipe.txt" 2>&1 || fail "training to a file failed: $(tail -3 "$tmp/train_pipe.txt")"
grep -q "evaluating" "$tmp/train_pipe.txt" && fail "training wrote a progress bar to a file"
"$bin" eval "$tmp/plain" > "$tmp/eval_pipe.txt" 2>&1 || fail "eval to a file failed"
grep -q "evaluating" "$tmp/eval_pipe.txt" && fail "a progress bar written to a file: $(head -c 200 "$tmp/eval_pipe.txt")"
grep -q "test_acc" "$tmp/eval_pipe.txt" || fail "cvtrain eval to a file printed no result"

if ! command -v script > /dev/null || ! script -qec true /dev/null > /dev/null 2>&1; then
  ((fails == 0)) || { echo "progress_tty: $fails failure(s)"; exit 1; }
  echo "SKIP: no pseudo-terminal here (script(1) absent or /dev/pts missing); the file half passed"; exit 77
fi
script -qec "$(printf '%q ' "${train[@]}" --out "$tmp/run")" /dev/null > "$tmp/train_tty.txt" 2>&1 \
  || fail "training on a terminal failed: $(tail -3 "$tmp/train_tty.txt")"
grep -q "evaluating val \[" "$tmp/train_tty.txt" || fail "no validation progress bar on a terminal"
grep -q "evaluating test \[.*256/256" "$tmp/train_tty.txt" || fail "no test progress bar reaching 256/256 on a terminal"

script -qec "$(printf '%q ' "$bin" eval "$tmp/run")" /dev/null > "$tmp/eval_tty.txt" 2>&1 \
  || fail "eval on a terminal failed: $(tail -3 "$tmp/eval_tty.txt")"
grep -q "evaluating test \[.*256/256" "$tmp/eval_tty.txt" || fail "cvtrain eval drew no progress bar on a terminal"
grep -q "test_acc" "$tmp/eval_tty.txt" || fail "cvtrain eval printed no result on a terminal"

((fails == 0)) && echo "progress_tty: OK" || { echo "progress_tty: $fails failure(s)"; exit 1; }
