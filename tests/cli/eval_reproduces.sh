#!/usr/bin/env bash
# `cvtrain eval` of a finished run reproduces the test loss and accuracy the run itself reported in
# its last metrics.jsonl row, in fp32 and in bf16 (a bf16 run is evaluated in bf16, as its own
# evaluations were); `--set train.precision=fp32` evaluates the bf16 run in f32 instead.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }

last_test() {  # RUN -> "loss acc" of the run's last evaluated row
  python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]+"/metrics.jsonl")]; r=[x for x in r if x.get("test_loss") is not None][-1]; print(repr(r["test_loss"]), repr(r["test_acc"]))' "$1"
}
evaluated() {  # JSON of cvtrain eval -> "loss acc"
  python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(repr(j["test_loss"]), repr(j["test_acc"]))'
}
close() {  # "l1 a1" "l2 a2" -> true when the losses agree to 1e-6 relative and the accuracies exactly
  python3 -c 'import sys; a=sys.argv[1].split(); b=sys.argv[2].split(); sys.exit(0 if abs(float(a[0])-float(b[0])) <= 1e-6*abs(float(a[0])) and a[1]==b[1] else 1)' "$1" "$2"
}

for p in fp32 bf16; do
  "$bin" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set train.epochs=1 \
    --set train.precision=$p --set train.progress=false --set threads=2 --out "$tmp/$p" > "$tmp/$p.log" 2>&1 ||
    { fail "training in $p: $(tail -2 "$tmp/$p.log")"; continue; }
  reported=$(last_test "$tmp/$p")
  got=$("$bin" eval "$tmp/$p" --json | evaluated)
  close "$reported" "$got" || fail "$p: the run reported (loss acc) $reported, cvtrain eval gives $got"
done
if [[ -d $tmp/bf16 ]]; then
  f32=$("$bin" eval "$tmp/bf16" --set train.precision=fp32 --json | evaluated)
  close "$(last_test "$tmp/bf16")" "$f32" && fail "--set train.precision=fp32 evaluated the bf16 run in bf16 still ($f32)"
fi
((fails == 0)) && echo "eval_reproduces: OK" || { echo "eval_reproduces: $fails failure(s)"; exit 1; }
