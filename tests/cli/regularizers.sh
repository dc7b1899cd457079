#!/usr/bin/env bash
# The model switches end to end on the synthetic data set: a CNN with fractional max pooling and
# DropConnect trains, `cvtrain eval` of the saved model reproduces the last epoch's test accuracy (the
# evaluation samplings are fixed, not drawn from the run's RNG), the same seed gives the same model, and
# bad values of the new keys are usage errors (exit 2) naming the key.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
args=(train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set train.epochs=1
      --set data.limit_train=1024 --set data.limit_test=512 --set train.progress=false --set train.batch_size=32
      --set optim.lr=0.02 --set model.pool=fractional
      --set model.fmp_test_samples=2 --set model.dropconnect=0.3 --set train.tensorboard=false --set train.plots=false
      --set threads=1)  # one thread: two spin against each other on a loaded machine
"$bin" "${args[@]}" --out "$tmp/a" > "$tmp/a.log"
last=$(tail -1 "$tmp/a/metrics.jsonl" | sed -n 's/.*"test_acc":\([0-9.eE+-]*\).*/\1/p')
eval_acc=$("$bin" eval "$tmp/a" --json | sed -n 's/.*"test_acc":\([0-9.eE+-]*\).*/\1/p')
[[ -n "$last" && "$last" == "$eval_acc" ]] || { echo "FAIL: eval gives '$eval_acc', training ended at '$last'"; exit 1; }
"$bin" "${args[@]}" --out "$tmp/b" > "$tmp/b.log"
cmp "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" || { echo "FAIL: same seed, different model"; exit 1; }

fails=0
for bad in model.pool=average model.fmp_ratio=2 model.fmp_sequence=sobol model.dropconnect=1 \
           model.drop_path_mode=layer model.fmp_test_samples=0; do
  key=${bad%%=*}
  set +e
  "$bin" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set "$bad" --out "$tmp/x" > "$tmp/x.log" 2>&1
  rc=$?
  set -e
  if [[ $rc -ne 2 ]] || ! grep -q "$key" "$tmp/x.log"; then
    echo "FAIL: --set $bad: exit $rc, message: $(cat "$tmp/x.log")"; fails=$((fails + 1))
  fi
done
[[ $fails -eq 0 ]] || exit 1
echo "regularizers: passed"
