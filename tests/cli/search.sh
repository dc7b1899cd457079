#!/usr/bin/env bash
# cvtrain search on tiny synthetic runs: a grid crossed with random keys, two trials at a time,
# results.csv sorted, best.yaml and plots written; a rerun resumes without training again; a
# diverging trial is recorded as failed without stopping the search; successive halving and a
# second stage run; a bad key in the space is an input error before any trial.
set -euo pipefail
bin=$1; src=$2
command -v python3 > /dev/null || exit 77
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
base=(search "$src/recipes/fashion_mlp.yaml" --set data.dataset=synthetic --set data.limit_train=128
      --set data.limit_test=64 --set train.epochs=1 --set train.batch_size=32 --set train.tensorboard=false
      --set train.plots=false --set train.histograms=false --set threads=1)
cat > "$tmp/space.yaml" <<'Y'
optim:
  lr: {loguniform: [0.001, 0.1]}
model.dropout: {uniform: [0.0, 0.5]}
train.batch_size: {grid: [16, 32]}
Y
"$bin" "${base[@]}" --space "$tmp/space.yaml" --trials 4 --jobs 2 --out "$tmp/s" > "$tmp/s.log"
for f in results.csv best.yaml plots/optim.lr.png plots/model.dropout.png plots/train.batch_size.png; do
  [[ -s "$tmp/s/$f" ]] || { echo "FAIL: missing $f"; cat "$tmp/s.log"; exit 1; }
done
python3 - "$tmp/s/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 4, rows
assert all(r['status'] == 'ok' for r in rows), rows
acc = [float(r['val_acc']) for r in rows]
assert acc == sorted(acc, reverse=True), acc
assert sorted(r['train.batch_size'] for r in rows) == ['16', '16', '32', '32'], rows
assert len({r['optim.lr'] for r in rows}) == 4
PY
grep -q "batch_size: 16\|batch_size: 32" "$tmp/s/best.yaml" || { echo "FAIL: best.yaml"; exit 1; }
stamp=$(stat -c %Y "$tmp/s/s1-t000/model.safetensors")
sleep 1
"$bin" "${base[@]}" --space "$tmp/space.yaml" --trials 4 --jobs 2 --out "$tmp/s" > "$tmp/s2.log"
grep -q "4 trials already done" "$tmp/s2.log" || { echo "FAIL: resume"; cat "$tmp/s2.log"; exit 1; }
[[ $(stat -c %Y "$tmp/s/s1-t000/model.safetensors") == "$stamp" ]] || { echo "FAIL: a finished trial ran again"; exit 1; }

# a diverging trial fails, the other finishes, the search goes on
printf 'optim.lr: {grid: [0.02, 1.0e+30]}\n' > "$tmp/div.yaml"
"$bin" "${base[@]}" --space "$tmp/div.yaml" --out "$tmp/d" > "$tmp/d.log"
python3 - "$tmp/d/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r['status'] for r in rows] == ['ok', 'failed'], rows
assert 'NaN' in rows[1]['error'] or 'infinite' in rows[1]['error'], rows[1]
PY
[[ -s "$tmp/d/s1-t001/failed.txt" ]] || { echo "FAIL: failed.txt"; exit 1; }

# successive halving over 3 epochs (budgets 1, 3) and a second, narrowed stage
printf 'optim.lr: {loguniform: [0.001, 0.1]}\n' > "$tmp/lr.yaml"
"$bin" "${base[@]}" --set train.epochs=3 --space "$tmp/lr.yaml" --trials 3 --halving 3 --stages 2 --out "$tmp/h" > "$tmp/h.log"
python3 - "$tmp/h/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 6, rows
for stage in '12':
    st = [r for r in rows if r['stage'] == stage]
    assert sorted(r['status'] for r in st) == ['ok', 'stopped', 'stopped'], st
    assert [r['epochs'] for r in st if r['status'] == 'ok'] == ['3'], st
    # one run per trial, continued when promoted: the promoted one trained 3 epochs' steps in all,
    # the stopped ones 1 epoch's
    steps = sorted(int(r['steps']) for r in st)
    assert steps[2] == 3 * steps[0] == 3 * steps[1] > 0, st
    assert all(not r['dir'].endswith(('-e1', '-e3')) for r in st), st
PY
ok=$(python3 -c "import csv,sys; print([r['dir'] for r in csv.DictReader(open(sys.argv[1])) if r['status']=='ok'][0])" "$tmp/h/results.csv")
grep -q "paused after epoch 1" "$ok/train.log" && grep -q "resuming from" "$ok/train.log" ||
  { cat "$ok/train.log"; echo "FAIL: the promoted trial was not paused and continued"; exit 1; }
[[ $(wc -l < "$ok/metrics.jsonl") -eq 3 ]] || { echo "FAIL: the promoted trial's epochs"; exit 1; }
"$bin" "${base[@]}" --set train.epochs=3 --set optim.pct_start=0.5 --space "$tmp/lr.yaml" --trials 3 --halving 3 --out "$tmp/w" > "$tmp/w.log"
grep -q "search: warning: the first rung ends after 1 epoch, inside the lr warmup (onecycle's rise, optim.pct_start 0.5 of 3 epochs)" "$tmp/w.log" ||
  { cat "$tmp/w.log"; echo "FAIL: no warning for a first rung inside the warmup"; exit 1; }
! grep -q "warning" "$tmp/h.log" || { echo "FAIL: a warning for a first rung past the warmup"; exit 1; }
if "$bin" "${base[@]}" --set train.epochs=3 --set train.max_steps=12 --space "$tmp/lr.yaml" --halving 3 --out "$tmp/m" > "$tmp/m.log" 2>&1; then
  echo "FAIL: halving with train.max_steps ran"; exit 1
fi
grep -q "search --halving: its budgets are epochs, and train.max_steps 12" "$tmp/m.log" || { cat "$tmp/m.log"; echo "FAIL: message"; exit 1; }

# Hyperband over 3 epochs, eta 3: a bracket of 3 trials from 1 epoch (1 promoted to 3), then 2 at 3 epochs
"$bin" "${base[@]}" --set train.epochs=3 --space "$tmp/lr.yaml" --hyperband --out "$tmp/hb" > "$tmp/hb.log"
grep -q "hyperband bracket 1 of 2: 3 trials from 1 epochs" "$tmp/hb.log" && grep -q "hyperband bracket 2 of 2: 2 trials from 3 epochs" "$tmp/hb.log" ||
  { cat "$tmp/hb.log"; echo "FAIL: hyperband brackets"; exit 1; }
python3 - "$tmp/hb/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {s: sorted(r['status'] for r in rows if r['stage'] == s) for s in '12'}
assert by == {'1': ['ok', 'stopped', 'stopped'], '2': ['ok', 'ok']}, by
assert all(r['epochs'] == '3' for r in rows if r['status'] == 'ok'), rows
PY
if "$bin" "${base[@]}" --space "$tmp/lr.yaml" --hyperband --trials 4 --out "$tmp/hb2" > "$tmp/hb2.log" 2>&1; then
  echo "FAIL: --hyperband with --trials ran"; exit 1
fi
grep -q "search --hyperband: each bracket's trials follow from ETA; drop --trials" "$tmp/hb2.log" || { cat "$tmp/hb2.log"; echo "FAIL: message"; exit 1; }

set +e
printf 'optim.lrr: {uniform: [0.1, 0.2]}\n' > "$tmp/bad.yaml"
"$bin" "${base[@]}" --space "$tmp/bad.yaml" --trials 2 --out "$tmp/b" > "$tmp/b.log" 2>&1
[[ $? -eq 2 ]] || { echo "FAIL: a bad key should exit 2"; exit 1; }
grep -q "optim.lrr" "$tmp/b.log" || { echo "FAIL: the error should name the key"; cat "$tmp/b.log"; exit 1; }
[[ ! -d "$tmp/b/s1-t000" ]] || { echo "FAIL: a trial started despite the bad key"; exit 1; }
echo "search: passed"
