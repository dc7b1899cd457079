#!/usr/bin/env bash
# An ablation: trains a base recipe once per line of a variants file (the base with a few --set
# overrides; same seed, data and budget), and prints a markdown table: validation accuracy (where the
# base holds out a validation split), test accuracy (reported, never chosen on) and the wall time of
# each `cvtrain train`. Where the base trains on a prefix of the training set (data.limit_train), the
# final model is also evaluated on those training images, for the train-test gap.
#
# A variants file names its base recipe in a line "# base: PATH" (PATH from the project's root), then
# has one line per variant: "name | overrides", overrides being space-separated KEY=VALUE pairs for
# --set (none: the base itself). A data.augment=[...] value holds spaces, so it must be the line's only
# override.
#   recipes/ablations/variants.txt   the regularization ablation (docs/regularization.md)
#   recipes/ablations/best_cpu.txt   the 60-minute recipe with each technique removed (docs/results.md)
#
# Usage: scripts/ablations.sh [--variants FILE] [--record JSONL] [CVTRAIN_BINARY] [OUT_DIR] [VARIANT...]
#   defaults: recipes/ablations/variants.txt, no record, build/cvtrain, runs/ablations, every variant.
#   Named variants run in the file's order; a name that is not a row of the file is refused (exit 2).
#   --record appends one JSON line per finished variant (CPU, commit, accuracies, seconds), so that a
#   long ablation can be run a few rows at a time and its table rebuilt from what was measured.
#   --check trains nothing: each variant's config must pass `cvtrain config` (tests/cli/recipes.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
variants="$here/recipes/ablations/variants.txt"
record=
check=0
pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --variants) variants=$2; shift 2 ;;
    --record) record=$2; shift 2 ;;
    --check) check=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "ablations.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) pos+=("$1"); shift ;;
  esac
done
bin="${pos[0]:-$here/build/cvtrain}"
out="${pos[1]:-$here/runs/ablations}"
only=("${pos[@]:2}")
[ -f "$variants" ] || { echo "ablations.sh: no variants file $variants" >&2; exit 2; }
base_rel=$(sed -n 's/^# base: *//p' "$variants" | head -1)
[ -n "$base_rel" ] || { echo "ablations.sh: $variants has no '# base: PATH' line" >&2; exit 2; }
base="$here/$base_rel"
[ -f "$base" ] || { echo "ablations.sh: $variants names base $base_rel, which does not exist" >&2; exit 2; }

# The variants, one "name|overrides" line each, comments and blank lines left out.
variant_lines() {
  while IFS='|' read -r name sets; do
    name=$(echo "$name" | xargs)
    [[ -z "$name" || "$name" == \#* ]] || echo "$name|$sets"
  done < "$variants"
}

# The --set arguments of one variant's overrides.
variant_args() {
  args=()
  sets=$(echo "$1" | sed 's/^ *//;s/ *$//')
  if [[ "$sets" == data.augment=* ]]; then
    args+=(--set "$sets")  # one YAML value with spaces
  else
    for s in $sets; do args+=(--set "$s"); done
  fi
}

# Each variant named on the command line must be a row of the file (a typo would run nothing).
names=" $(variant_lines | cut -d'|' -f1 | tr '\n' ' ')"
for v in "${only[@]}"; do
  [[ "$names" == *" $v "* ]] || { echo "ablations.sh: $variants has no variant '$v' (rows:${names% })" >&2; exit 2; }
done

if [ "$check" = 1 ]; then
  fails=0
  while IFS='|' read -r name sets; do
    variant_args "$sets"
    err=$("$bin" config "$base" "${args[@]}" 2>&1 >/dev/null) ||
      { echo "${variants#$here/}: variant $name: $err"; fails=$((fails + 1)); }
  done < <(variant_lines)
  exit $(( fails > 0 ))
fi
mkdir -p "$out"

# Resolved values of the base, read once: `cvtrain config` prints every key the run reads.
resolved=$("$bin" config "$base")
value() { echo "$resolved" | sed -n "s/^  $1: //p" | head -1; }
limit=$(value limit_train)
val_fraction=$(value val_fraction)
with_val=$(awk -v v="${val_fraction:-0}" 'BEGIN { print (v > 0) ? 1 : 0 }')
with_train=$([ -n "$limit" ] && [ "$limit" != 0 ] && echo 1 || echo 0)

if [ "$with_train" = 1 ]; then
  # The training images as a "test split": t10k-* names linked to the train-* files, so `cvtrain eval`
  # (which reads the test split) scores the first data.limit_train training images.
  root=$(value root)
  as_test="$out/train_as_test"
  mkdir -p "$as_test"
  ln -sf "$root/train-images-idx3-ubyte.gz" "$as_test/t10k-images-idx3-ubyte.gz"
  ln -sf "$root/train-labels-idx1-ubyte.gz" "$as_test/t10k-labels-idx1-ubyte.gz"
fi

json_field() { sed -n "s/.*\"$1\": *\([0-9.eE+-]*\).*/\1/p" | tail -1; }
pct() { awk -v a="$1" 'BEGIN { if (a == "") print "-"; else printf "%.2f%%", 100 * a }'; }

header="| variant | overrides |"; rule="|---|---|"
[ "$with_val" = 1 ] && { header+=" val acc |"; rule+="---|"; }
header+=" test acc |"; rule+="---|"
[ "$with_train" = 1 ] && { header+=" train acc | gap |"; rule+="---|---|"; }
echo "$header train time (s) |"
echo "$rule---|"
cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(lscpu | sed -n 's/^CPU family: *//p'), \
model $(lscpu | sed -n 's/^Model: *//p'), $(nproc) cores)"
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
while IFS='|' read -r name sets; do
  if (( ${#only[@]} )) && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  variant_args "$sets"
  t0=$(date +%s.%N)
  "$bin" train "$base" "${args[@]}" --out "$out/$name" --overwrite > "$out/$name.log" 2>&1
  t1=$(date +%s.%N)
  seconds=$(echo "$t1 - $t0" | bc)
  last=$(tail -1 "$out/$name/metrics.jsonl")
  test_acc=$(echo "$last" | json_field test_acc)
  val_acc=$([ "$with_val" = 1 ] && echo "$last" | json_field val_acc || true)
  row="| $name | \`${sets:-(base)}\` |"
  [ "$with_val" = 1 ] && row+=" $(pct "$val_acc") |"
  row+=" $(pct "$test_acc") |"
  train_acc=
  if [ "$with_train" = 1 ]; then
    train_acc=$("$bin" eval "$out/$name" --json --set data.root="$as_test" --set data.limit_test="$limit" \
                2>>"$out/$name.log" | json_field test_acc)
    row+=" $(pct "$train_acc") | $(awk -v tr="$train_acc" -v te="$test_acc" 'BEGIN { printf "%.2f", 100 * (tr - te) }') |"
  fi
  echo "$row $(printf '%.0f' "$seconds") |"
  if [ -n "$record" ]; then
    python3 - "$record" "$(date -u +%FT%TZ)" "$commit" "$cpu" "${variants#$here/}" "$base_rel" "$name" "$sets" \
      "$(echo "$last" | json_field epoch)" "$val_acc" "$test_acc" "$train_acc" "$seconds" <<'PY'
import json, sys
record, date, commit, cpu, variants, base, name, sets, epochs, val, test, train, seconds = sys.argv[1:]
num = lambda s: float(s) if s else None
row = dict(date=date, commit=commit, cpu=cpu, variants=variants, base=base, variant=name, overrides=sets,
           epochs=int(epochs), val_acc=num(val), test_acc=num(test), train_acc=num(train),
           wall_s=round(float(seconds), 1))
with open(record, 'a') as f:
    f.write(json.dumps(row) + '\n')
PY
  fi
done < <(variant_lines)
