#!/usr/bin/env bash
# The regularization ablation: trains recipes/ablations/base.yaml once per line of
# recipes/ablations/variants.txt (one regularizer on, same seed, data and budget), evaluates each final
# model on the test set and, in evaluation mode, on the training images it saw, and prints a markdown
# table: test accuracy, train accuracy, train-test gap, training wall time.
# Usage: scripts/ablations.sh [CVTRAIN_BINARY] [OUT_DIR] [VARIANT...]   (default build/cvtrain, runs/ablations, all)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$here/build/cvtrain}"
out="${2:-$here/runs/ablations}"
shift $(( $# > 2 ? 2 : $# )) || true
only=("$@")
base="$here/recipes/ablations/base.yaml"
mkdir -p "$out"
# The training images as a "test split": t10k-* names linked to the train-* files, so `cvtrain eval`
# (which reads the test split) scores the first data.limit_train training images.
root=$(sed -n 's/^  root: //p' "$base")
limit=$(sed -n 's/^  limit_train: //p' "$base")
as_test="$out/train_as_test"
mkdir -p "$as_test"
ln -sf "$root/train-images-idx3-ubyte.gz" "$as_test/t10k-images-idx3-ubyte.gz"
ln -sf "$root/train-labels-idx1-ubyte.gz" "$as_test/t10k-labels-idx1-ubyte.gz"

json_field() { sed -n "s/.*\"$1\": *\([0-9.eE+-]*\).*/\1/p" | tail -1; }

echo "| variant | overrides | test acc | train acc | gap | train time (s) |"
echo "|---|---|---|---|---|---|"
while IFS='|' read -r name sets; do
  name=$(echo "$name" | xargs)
  [[ -z "$name" || "$name" == \#* ]] && continue
  if (( ${#only[@]} )) && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  args=()
  sets=$(echo "$sets" | sed 's/^ *//;s/ *$//')
  if [[ "$sets" == data.augment=* ]]; then
    args+=(--set "$sets")  # one YAML value with spaces
  else
    for s in $sets; do args+=(--set "$s"); done
  fi
  t0=$(date +%s.%N)
  "$bin" train "$base" "${args[@]}" --out "$out/$name" --overwrite > "$out/$name.log" 2>&1
  t1=$(date +%s.%N)
  test_acc=$(tail -1 "$out/$name/metrics.jsonl" | json_field test_acc)
  train_acc=$("$bin" eval "$out/$name" --json --set data.root="$as_test" --set data.limit_test="$limit" 2>>"$out/$name.log" |
              json_field test_acc)
  awk -v n="$name" -v s="${sets:-(base)}" -v te="$test_acc" -v tr="$train_acc" -v t="$(echo "$t1 - $t0" | bc)" \
    'BEGIN { printf "| %s | `%s` | %.2f%% | %.2f%% | %.2f | %.0f |\n", n, s, 100*te, 100*tr, 100*(tr-te), t }'
done < "$here/recipes/ablations/variants.txt"
