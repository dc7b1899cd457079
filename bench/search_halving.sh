#!/usr/bin/env bash
# Successive halving against random search with the same budget, on one space and one seed:
#   halving: N trials, eta 3, budgets E/9, E/3, E epochs, promoted trials continued from their checkpoint
#   random:  the first N_r trials of the same draws at full length, N_r * E = the epochs halving trained
#   hyperband: brackets of halving starting at each budget (Li et al. 2018), the last one at full length
#   (and, with FULL=1, all N trials at full length: what the space holds)
# Prints per search: trials, epochs and optimizer steps trained, wall time, the best validation
# accuracy and when it was first reached (its trial's finished_s), and that trial's test accuracy.
# Usage: bench/search_halving.sh BIN OUT [--set k=v ...]   (env: TRIALS=27 EPOCHS=9 JOBS=2 FULL=0)
# A search whose wall time OUT/wall.txt already holds is not run again.
set -euo pipefail
bin=$1; out=$2; shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
trials=${TRIALS:-27}; epochs=${EPOCHS:-9}; jobs=${JOBS:-2}
common=(--space "$src/recipes/search/cnn_space.yaml" --jobs "$jobs" --set train.epochs="$epochs"
        --set data.limit_train=10000 --set data.limit_test=2000 --set train.tensorboard=false
        --set train.histograms=false --set train.plots=false --seed 1 "$@")
run() {  # name, extra args... (a search already measured in OUT is kept)
  local name=$1; shift
  grep -q "^$name " "$out/wall.txt" && return
  local t0=$(date +%s.%N)
  "$bin" search "$src/recipes/fashion_cnn.yaml" "${common[@]}" "$@" --out "$out/$name" > "$out/$name.log"
  echo "$name $(echo "$(date +%s.%N) - $t0" | bc)" >> "$out/wall.txt"
}
mkdir -p "$out"; touch "$out/wall.txt"
run halving --trials "$trials" --halving 3
spent=$(python3 -c "import csv,sys; print(sum(int(r['epochs']) for r in csv.DictReader(open(sys.argv[1])) if r['status']!='failed'))" "$out/halving/results.csv")
run random --trials $(( (spent + epochs - 1) / epochs ))
run hyperband --hyperband
[[ "${FULL:-0}" == 1 ]] && run full --trials "$trials"
python3 - "$out" "$epochs" <<'PY'
import csv, sys
out, epochs = sys.argv[1], int(sys.argv[2])
wall = dict(l.split() for l in open(out + "/wall.txt"))
print("| search | trials | epochs trained | steps | wall (s) | best val_acc | reached at (s) | its test_acc |")
print("|---|---|---|---|---|---|---|---|")
for name in ("halving", "random", "hyperband", "full"):
    try:
        rows = list(csv.DictReader(open(f"{out}/{name}/results.csv")))
    except FileNotFoundError:
        continue
    done = [r for r in rows if r["status"] != "failed"]
    best = max((r for r in rows if r["status"] == "ok" and int(r["epochs"]) == epochs), key=lambda r: float(r["val_acc"]))
    first = min(float(r["finished_s"]) for r in rows if r["status"] == "ok" and int(r["epochs"]) == epochs
                and float(r["val_acc"]) >= float(best["val_acc"]))
    print(f"| {name} | {len(rows)} | {sum(int(r['epochs']) for r in done)} | {sum(int(r['steps']) for r in done)} | "
          f"{float(wall[name]):.0f} | {100 * float(best['val_acc']):.2f}% | {first:.0f} | {100 * float(best['test_acc']):.2f}% |")
PY
