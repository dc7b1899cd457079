#!/usr/bin/env bash
# Every recipe shipped under recipes/ (search spaces aside: they are read by `cvtrain search
# --space`) parses and passes the config checks, so a renamed model or key cannot leave a recipe
# that only fails when a user runs it; so does every variant of the ablations (recipes/ablations/*.txt,
# each its base recipe with overrides).
set -uo pipefail
bin=$1; src=$2
fails=0 n=0
while IFS= read -r f; do
  n=$((n+1))
  err=$("$bin" config "$f" 2>&1 >/dev/null) || { echo "FAIL: $f: $err"; fails=$((fails+1)); }
done < <(find "$src/recipes" -name "*.yaml" ! -name "*_space.yaml" | sort)
while IFS= read -r f; do
  n=$((n+1))
  bash "$src/scripts/ablations.sh" --check --variants "$f" "$bin" || { echo "FAIL: $f"; fails=$((fails+1)); }
done < <(find "$src/recipes/ablations" -name "*.txt" | sort)
# A misspelled variant name is refused before anything is trained or written.
typo_dir=$(mktemp -d)
msg=$(bash "$src/scripts/ablations.sh" --variants "$src/recipes/ablations/best_cpu.txt" "$bin" "$typo_dir/out" no_crpo 2>&1)
rc=$?
[[ $rc == 2 && "$msg" == *"no variant 'no_crpo'"* && ! -e "$typo_dir/out" ]] ||
  { echo "FAIL: ablations.sh with a misspelled variant: rc $rc, $msg"; fails=$((fails+1)); }
rm -rf "$typo_dir"
((n > 20)) || { echo "FAIL: only $n recipes found under $src/recipes"; exit 1; }
((fails == 0)) && echo "recipes: $n parse (ablation variant files included)" || { echo "recipes: $fails of $n failed"; exit 1; }
