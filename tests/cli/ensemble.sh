#!/usr/bin/env bash
# cvtrain ensemble on tiny synthetic runs: each member's accuracy equals `cvtrain eval`'s, the
# ensemble is reported, EMA weights of a run are compared, --logits and --tta work, snapshots of an
# SGDR run are kept at each cycle's end and evaluated with --snapshots, bad input exits 2, and of --set
# eval, ensemble and report take only the keys they read.
set -euo pipefail
bin=$1; src=$2
command -v python3 > /dev/null || exit 77
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
args=(train "$src/recipes/fashion_mlp.yaml" --set data.dataset=synthetic --set data.limit_train=256
      --set train.epochs=1 --set train.progress=false --set train.batch_size=32 --set optim.lr=0.02
      --set train.tensorboard=false --set train.plots=false)
"$bin" "${args[@]}" --set seed=1 --out "$tmp/a" > /dev/null
"$bin" "${args[@]}" --set seed=2 --set train.ema_decay=0.9 --out "$tmp/b" > /dev/null

"$bin" ensemble "$tmp/a" "$tmp/b/model.safetensors" --json > "$tmp/e.json"
acc_a=$("$bin" eval "$tmp/a" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['test_acc'])")
python3 - "$tmp/e.json" "$acc_a" "$tmp/b" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert len(j['members']) == 2, j
assert abs(j['members'][0]['test_acc'] - float(sys.argv[2])) < 1e-9, (j['members'][0], sys.argv[2])
assert 0 < j['ensemble']['test_acc'] <= 1 and j['ensemble']['test_nll'] > 0, j
assert j['best_member_acc'] == max(m['test_acc'] for m in j['members'])
assert j['images'] == 256
ema = [c for c in j['compared'] if c['model'].endswith(' ema')]
assert len(ema) == 1 and ema[0]['model'].startswith(sys.argv[3]), j['compared']
PY
# one member: the ensemble is that member
"$bin" ensemble "$tmp/a" --json | python3 -c "
import json,sys; j=json.load(sys.stdin); assert j['ensemble']['test_acc']==j['members'][0]['test_acc'], j"
"$bin" ensemble "$tmp/a" "$tmp/b" --logits --tta flip | grep -q "ENSEMBLE" || { echo "FAIL: --logits --tta"; exit 1; }

# snapshot ensemble: sgdr with 1-epoch cycles doubling (1, 2): cycle ends at epochs 1 and 3
"$bin" "${args[@]}" --set train.epochs=3 --set optim.schedule=sgdr --set optim.restart_period=1 \
  --set optim.restart_mult=2 --set train.snapshots=true --out "$tmp/s" > /dev/null
[[ $(ls "$tmp/s/snapshots") == $'epoch-0001.safetensors\nepoch-0003.safetensors' ]] ||
  { echo "FAIL: snapshots: $(ls "$tmp/s/snapshots")"; exit 1; }
"$bin" ensemble "$tmp/s" --snapshots --json | python3 -c "
import json,sys; j=json.load(sys.stdin)
assert [m['member'] for m in j['members']] == ['epoch-0001', 'epoch-0003'], j
assert [c['model'].endswith(' final') for c in j['compared']] == [True], j"

set +e
"$bin" ensemble "$tmp/missing" > /dev/null 2>&1; [[ $? -eq 2 ]] || { echo "FAIL: missing member should exit 2"; exit 1; }
"$bin" ensemble "$tmp/a" --snapshots > /dev/null 2>&1; [[ $? -eq 2 ]] || { echo "FAIL: no snapshots should exit 2"; exit 1; }
"$bin" ensemble "$tmp/a" --tta bogus > /dev/null 2>&1; [[ $? -eq 2 ]] || { echo "FAIL: bad --tta should exit 2"; exit 1; }
# The commands on a stored model read a few keys from --set (threads, the test data, the CPU runtime):
# a training key is refused, naming it, before anything is written; a key they read takes effect.
for cmd in eval ensemble report; do
  err=$("$bin" $cmd "$tmp/a" --set train.epochs=5 2>&1 >/dev/null); rc=$?
  [[ $rc -eq 2 ]] && grep -q -- "--set train.epochs: on a stored model, eval, report, ensemble read only threads, data.root" <<<"$err" ||
    { echo "FAIL: $cmd --set train.epochs: exit $rc: $err"; exit 1; }
done
[[ ! -e "$tmp/a/report.html" ]] || { echo "FAIL: a refused report wrote report.html"; exit 1; }
n=$("$bin" eval "$tmp/a" --set data.limit_test=16 --json | python3 -c "import json,sys; print(json.load(sys.stdin)['images'])")
[[ $n -eq 16 ]] || { echo "FAIL: eval --set data.limit_test=16 evaluated $n images"; exit 1; }
echo "ensemble: passed"
