#!/usr/bin/env bash
# The test set is reported, never chosen on, as a user runs it: early stopping without
# data.val_fraction holds out a stratified tenth of the training set (said on stderr, recorded in
# config.yaml and splits.json), best.safetensors is chosen by val_acc; a run that chooses nothing keeps
# all its training images and writes no best model; a search ranks its trials by val_acc.
set -euo pipefail
bin=$1; src=$2
command -v python3 > /dev/null || exit 77
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
base=(--set data.dataset=synthetic --set train.epochs=3 --set train.progress=false --set train.tensorboard=false
      --set train.plots=false --set threads=1)
fail() { echo "FAIL: $*"; exit 1; }

"$bin" train "$src/recipes/fashion_mlp.yaml" "${base[@]}" --set train.early_stop_patience=2 --out "$tmp/es" \
  > "$tmp/es.log" 2> "$tmp/es.err" || { cat "$tmp/es.err"; fail "early stopping run"; }
grep -q "train.early_stop_patience: 2 chooses on a validation split.*holding out 10% of the training set" "$tmp/es.err" \
  || { cat "$tmp/es.err"; fail "no note on stderr"; }
grep -q "(920 train, 104 val, 256 test images)" "$tmp/es.log" || { cat "$tmp/es.log"; fail "split sizes"; }
grep -q "^  val_fraction: 0.1$" "$tmp/es/config.yaml" || fail "config.yaml does not record the split"
python3 - "$tmp/es" <<'PY'
import json, struct, sys
run = sys.argv[1]
splits = json.load(open(run + "/splits.json"))
assert splits["train"] == 920 and splits["val"] == 104 and splits["test"] == 256, splits
assert "stratified" in splits["val_from"], splits
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
assert all("val_acc" in r and "test_acc" in r for r in rows), rows[0]
best = max(range(len(rows)), key=lambda i: (rows[i]["val_acc"], -i))  # the first maximum
with open(run + "/best.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n))["__metadata__"]
assert int(meta["best_epoch"]) == rows[best]["epoch"], (meta, rows)
assert abs(float(meta["best_val_acc"]) - rows[best]["val_acc"]) < 1e-6, (meta, rows)
assert "best_test_acc" not in meta
PY

"$bin" train "$src/recipes/fashion_mlp.yaml" "${base[@]}" --out "$tmp/plain" > "$tmp/plain.log" 2> "$tmp/plain.err"
grep -q "(1024 train, 256 test images)" "$tmp/plain.log" || { cat "$tmp/plain.log"; fail "a plain run lost training images"; }
[[ ! -e "$tmp/plain/best.safetensors" ]] || fail "a run without a validation split chose a best model"
! grep -q "val_acc" "$tmp/plain/metrics.jsonl" || fail "val_acc without a validation split"
! grep -q "holding out" "$tmp/plain.err" || fail "a run that chooses nothing held out a split"

printf 'optim.lr: {grid: [0.001, 0.03]}\n' > "$tmp/space.yaml"
"$bin" search "$src/recipes/fashion_mlp.yaml" "${base[@]}" --set train.epochs=1 --space "$tmp/space.yaml" \
  --out "$tmp/s" > "$tmp/s.log" || { cat "$tmp/s.log"; fail "search"; }
grep -q "trials are ranked on a validation split; holding out 0.1" "$tmp/s.log" || { cat "$tmp/s.log"; fail "search note"; }
python3 - "$tmp/s/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["status"] for r in rows] == ["ok", "ok"], rows
assert float(rows[0]["val_acc"]) >= float(rows[1]["val_acc"]), rows
assert all(r["test_acc"] for r in rows), rows
PY
grep -q "^  val_fraction: 0.1$" "$tmp/s/best.yaml" || fail "best.yaml does not reproduce the trial's split"
printf 'data.val_fraction: {uniform: [0.1, 0.3]}\n' > "$tmp/bad.yaml"
if "$bin" search "$src/recipes/fashion_mlp.yaml" "${base[@]}" --space "$tmp/bad.yaml" --out "$tmp/b" > "$tmp/b.log" 2>&1; then
  fail "a search over data.val_fraction ran"
fi
grep -q "data.val_fraction: the validation split ranks the trials; it cannot be searched" "$tmp/b.log" || { cat "$tmp/b.log"; fail "message"; }
# ReduceLROnPlateau reads the validation loss: a split is held out for it; its state survives a pause
plat=(--set optim.schedule=plateau --set optim.lr=0.05 --set optim.plateau_patience=0 --set optim.plateau_factor=0.5
      --set optim.plateau_threshold=0.99 --set optim.momentum=0 --set optim.nesterov=false --set train.epochs=4)
"$bin" train "$src/recipes/fashion_mlp.yaml" "${base[@]}" "${plat[@]}" --out "$tmp/pl" > "$tmp/pl.log" 2> "$tmp/pl.err"   || { cat "$tmp/pl.err"; fail "plateau run"; }
grep -q "optim.schedule: plateau chooses on a validation split" "$tmp/pl.err" || { cat "$tmp/pl.err"; fail "plateau note"; }
"$bin" train "$src/recipes/fashion_mlp.yaml" "${base[@]}" "${plat[@]}" --out "$tmp/pp" --until-epoch 2 > /dev/null 2>&1
"$bin" train --resume "$tmp/pp" > /dev/null 2>&1 || fail "resuming the paused plateau run"
python3 - "$tmp/pl/metrics.jsonl" "$tmp/pp/metrics.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
lrs = [r["lr"] for r in a]
assert [round(x, 7) for x in lrs] == [0.05, 0.05, 0.025, 0.0125], lrs
assert [r["lr"] for r in b] == lrs and [r["val_loss"] for r in b] == [r["val_loss"] for r in a], (a, b)
PY
# train.keep picks what model.safetensors holds; --weights picks a run's file for eval
"$bin" train "$src/recipes/fashion_mlp.yaml" "${base[@]}" --set train.keep=best --out "$tmp/kb" > "$tmp/kb.log" 2> "$tmp/kb.err"   || { cat "$tmp/kb.err"; fail "train.keep best"; }
grep -q "train.keep: best chooses on a validation split" "$tmp/kb.err" || { cat "$tmp/kb.err"; fail "keep best note"; }
cmp "$tmp/kb/best.safetensors" "$tmp/kb/model.safetensors" || fail "train.keep best: model.safetensors is not the best model"
grep -q "(train.keep: best)" "$tmp/kb.log" || fail "the last line does not say which weights it kept"
"$bin" train "$src/recipes/fashion_mlp.yaml" "${base[@]}" --set train.keep=ema --set train.ema_decay=0.9 --out "$tmp/ke" > "$tmp/ke.log"   || fail "train.keep ema"
cmp "$tmp/ke/ema.safetensors" "$tmp/ke/model.safetensors" || fail "train.keep ema: model.safetensors is not the EMA model"
python3 - "$tmp/ke" "$bin" <<'PY'
import json, subprocess, sys
run, bin = sys.argv[1:3]
last = json.loads(open(run + "/metrics.jsonl").readlines()[-1])
got = json.loads(subprocess.check_output([bin, "eval", run, "--json"]))
ema = json.loads(subprocess.check_output([bin, "eval", run, "--weights", "ema", "--json"]))
assert abs(got["test_acc"] - last["ema_test_acc"]) < 1e-12 and got == {**got, "test_acc": ema["test_acc"]}, (got, ema, last)
PY
if "$bin" train "$src/recipes/fashion_mlp.yaml" "${base[@]}" --set train.keep=ema --out "$tmp/kx" > "$tmp/kx.log" 2>&1; then fail "keep ema without EMA ran"; fi
grep -q "train.keep: ema needs train.ema_decay > 0" "$tmp/kx.log" || { cat "$tmp/kx.log"; fail "keep ema message"; }
if "$bin" eval "$tmp/plain" --weights ema > "$tmp/we.log" 2>&1; then fail "--weights ema without ema.safetensors"; fi
grep -q "plain: no ema.safetensors (train with train.ema_decay)" "$tmp/we.log" || { cat "$tmp/we.log"; fail "--weights message"; }
"$bin" eval "$tmp/es" --weights best --json > /dev/null || fail "eval --weights best"
"$bin" export "$tmp/ke" --weights ema --format safetensors --out "$tmp/ke.st" > /dev/null || fail "export --weights ema"
echo "validation: ok"
