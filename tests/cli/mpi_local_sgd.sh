#!/usr/bin/env bash
# Local SGD under Open MPI (train.dist_local_sgd), end to end:
#  1. Averaging every step (1) is the gradient sum (0) to rounding: SGD's update is linear in the
#     gradient, weight decay and momentum included, so the mean of the ranks' steps is the step on
#     the mean gradient.
#  2. Averaging every 4 steps trains (loss falls), ends with the same weights on every rank, is
#     not the every-step run, and a run checkpointed between two averages and resumed on 2 ranks ends
#     where the uninterrupted one ends (rank 0 saves its momentum: without the momentum averaged
#     at checkpoints, the resumed run differs by 1e-2).
#  3. It is refused with optimizers whose state does not average, naming the key.
# SKIPs (77) where mpirun is absent or cvtrain was built without MPI.
set -euo pipefail
bin=$1; src=$2
command -v mpirun > /dev/null || { echo "SKIP: no mpirun"; exit 77; }
tmp=$(mktemp -d); trap '[[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -np 2)
recipe() {  # an MLP without dropout or batch norm on synthetic data; $1: the optim block
  printf '%s\n' "seed: 0" "threads: 1" "data: {dataset: synthetic, limit_train: 1024, limit_test: 128}" \
    "model: {name: mlp, dropout: 0}" "train: {batch_size: 32, progress: false, tensorboard: false, plots: false}" \
    "optim: $1"
}
recipe "{name: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5.0e-4, schedule: constant}" > "$tmp/sgd.yaml"
recipe "{name: adam, lr: 0.001, schedule: constant}" > "$tmp/adam.yaml"
common=(train "$tmp/sgd.yaml")
compare() { python3 "$src/tests/cli/safetensors_maxdiff.py" "$1" "$2" "$3"; }
fail() { echo "FAIL: $*"; exit 1; }

if ! "${mpi[@]}" "$bin" "${common[@]}" --set train.epochs=1 --out "$tmp/grad" > "$tmp/grad.log" 2>&1; then
  if grep -q "built without MPI" "$tmp/grad.log"; then echo "SKIP: cvtrain built without MPI"; exit 77; fi
  cat "$tmp/grad.log"; fail "gradient sum"
fi
# 1. averaging the weights every step = summing the gradients every step
"${mpi[@]}" "$bin" "${common[@]}" --set train.epochs=1 --set train.dist_local_sgd=1 --out "$tmp/avg1" \
  > "$tmp/avg1.log" 2>&1 || { cat "$tmp/avg1.log"; fail "local SGD, every step"; }
grep -q "local SGD: weights averaged every 1 steps" "$tmp/avg1.log" || { cat "$tmp/avg1.log"; fail "banner"; }
compare "$tmp/grad/model.safetensors" "$tmp/avg1/model.safetensors" 1e-5 || fail "averaging every step differs from the gradient sum"

# 2. every 4 steps (16 steps an epoch), checkpoints every 6: between averages
run4=(--set train.epochs=2 --set train.dist_local_sgd=4)
"${mpi[@]}" "$bin" "${common[@]}" "${run4[@]}" --out "$tmp/avg4" > "$tmp/avg4.log" 2>&1 ||
  { cat "$tmp/avg4.log"; fail "local SGD, every 4 steps"; }
if grep -q "weights differed" "$tmp/avg4.log"; then cat "$tmp/avg4.log"; fail "the ranks ended an epoch apart"; fi
python3 - "$tmp/avg4/metrics.jsonl" <<'EOF' || fail "local SGD did not train"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
first, last = rows[0]["train_loss"], rows[-1]["train_loss"]
print(f"local SGD every 4 steps: train loss {first:.4f} -> {last:.4f}, train acc {rows[-1]['train_acc']:.4f}")
sys.exit(0 if last < first and 0 < rows[-1]["train_acc"] <= 1 else 1)
EOF
"${mpi[@]}" "$bin" "${common[@]}" --set train.epochs=2 --set train.dist_local_sgd=1 --out "$tmp/avg1b" > /dev/null 2>&1 ||
  fail "local SGD every step, 2 epochs"
if compare "$tmp/avg1b/model.safetensors" "$tmp/avg4/model.safetensors" 1e-4 > /dev/null; then
  fail "averaging every 4 steps ends where averaging every step does: the key had no effect"
fi
"${mpi[@]}" "$bin" "${common[@]}" "${run4[@]}" --set train.checkpoint_every_steps=6 --set train.keep_last=10 \
  --out "$tmp/ck" > "$tmp/ck.log" 2>&1 || { cat "$tmp/ck.log"; fail "checkpointed run"; }
mv "$tmp/ck/model.safetensors" "$tmp/uninterrupted.safetensors"
rm "$tmp/ck"/checkpoints/step-000000{16,18,24,30,32}.safetensors  # as if killed after step 12
"${mpi[@]}" "$bin" train --resume "$tmp/ck" > "$tmp/resume.log" 2>&1 || { cat "$tmp/resume.log"; fail "resume"; }
grep -q "resuming from .*step-00000012" "$tmp/resume.log" || { cat "$tmp/resume.log"; fail "resume line"; }
compare "$tmp/uninterrupted.safetensors" "$tmp/ck/model.safetensors" 1e-6 || fail "the resumed run differs from the uninterrupted one"

# 3. refused where the optimizer's state does not average
rc=0; "${mpi[@]}" "$bin" train "$tmp/adam.yaml" --set train.dist_local_sgd=4 --out "$tmp/adam" \
  > "$tmp/adam.log" 2>&1 || rc=$?
((rc == 2)) || { cat "$tmp/adam.log"; fail "local SGD with adam: exit code $rc, not 2"; }
grep -q "train.dist_local_sgd" "$tmp/adam.log" || { cat "$tmp/adam.log"; fail "the refusal does not name the key"; }
[[ ! -e $tmp/adam/model.safetensors ]] || fail "the refused run wrote a model"
echo "mpi_local_sgd: 3 passed, 0 failed"
