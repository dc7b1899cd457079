#!/bin/bash
# Time to accuracy, side by side (docs/perf.md): one cvtrain recipe trained by cvtrain and by PyTorch
# (bench/torch_recipe.py, which mirrors the recipe or refuses it). Prints for each the epoch and the
# training seconds (evaluation excluded) at which test accuracy first reaches the target, the final
# accuracy and training time, and the accuracy each had after the faster one's time to the target (at
# its last evaluated epoch within that time). Test accuracy is reported here, never chosen on.
# Modes: parallel (both at once, one thread each, so both see the same machine) or serial (one after
# the other, two threads each, for a quiet machine). NOTE: cvtrain keeps the recipe's data.workers
# (prefetch threads for the loader) beside its compute threads; the PyTorch side augments in line.
# PyTorch runs channels_last (as cvtrain's train.memory_format default) unless --nchw.
#
# usage: bench/time_to_accuracy.sh [--recipe FILE] [--target ACC] [--python PY] [--mode parallel|serial]
#          [--threads N] [--precision fp32|bf16] [--compile] [--nchw] [--seed N] [--epochs N] [--limit N]
#          [--limit-test N]
#          [CVTRAIN_BINARY [OUT_DIR [fp32|bf16]]]
# defaults: recipes/fashion_resnet20_aug.yaml, target 0.93, /work/venv-torch2/bin/python if present
# (else /usr/bin/python3), parallel, threads by the mode (1 or 2 per side), the recipe's precision,
# build/cvtrain, /tmp/time_to_accuracy.
# --seed replaces the recipe's seed on both sides (a second seed of the same comparison).
# --epochs/--limit/--limit-test shorten both sides alike (smoke tests). The ResNet-20 default takes
# about 30 minutes on 2 cores; recipes/fashion_wrn16_4_candidate.yaml (--target 0.94) took cvtrain
# 44 minutes with 2 threads, so expect 1.5-2 hours per mode.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
recipe=$root/recipes/fashion_resnet20_aug.yaml
target=0.93
py=/usr/bin/python3
[ -x /work/venv-torch2/bin/python ] && py=/work/venv-torch2/bin/python
mode=parallel
threads=
nchw=
precision=
torch_flags=()
common_cv=()
common_pt=()
pos=()
die() { echo "time_to_accuracy.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --recipe) recipe=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --python) py=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --compile) torch_flags+=(--compile); shift ;;
    --nchw) nchw=1; shift ;;
    --seed) common_cv+=(--set "seed=$2"); common_pt+=(--seed "$2"); shift 2 ;;
    --epochs) common_cv+=(--set "train.epochs=$2"); common_pt+=(--epochs "$2"); shift 2 ;;
    --limit) common_cv+=(--set "data.limit_train=$2"); common_pt+=(--limit "$2"); shift 2 ;;
    --limit-test) common_cv+=(--set "data.limit_test=$2"); common_pt+=(--limit-test "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {print}' "$0"; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) pos+=("$1"); shift ;;
  esac
done
bin=${pos[0]:-$root/build/cvtrain}
out=${pos[1]:-/tmp/time_to_accuracy}
[ -n "${pos[2]:-}" ] && precision=${pos[2]}
case "$mode" in
  parallel) threads=${threads:-1} ;;
  serial) threads=${threads:-2} ;;
  *) die "--mode must be parallel or serial, got '$mode'" ;;
esac
if [ -n "$precision" ]; then
  case "$precision" in fp32|bf16) ;; *) die "precision must be fp32 or bf16, got '$precision'" ;; esac
  common_cv+=(--set "train.precision=$precision")
  common_pt+=(--precision "$precision")
fi
[ -z "${nchw:-}" ] && torch_flags+=(--channels-last)
[ -f "$recipe" ] || die "no recipe $recipe"
[ -x "$bin" ] || die "no cvtrain binary $bin"
if [ -e "$out/cvtrain" ] || [ -e "$out/torch.log" ]; then die "$out already holds a comparison; give another OUT_DIR"; fi

cv_cmd=("$bin" train "$recipe" --out "$out/cvtrain" --set "threads=$threads" "${common_cv[@]}")
pt_cmd=("$py" "$root/bench/torch_recipe.py" "$recipe" --threads "$threads" "${torch_flags[@]}" "${common_pt[@]}")
# the PyTorch side refuses what it does not mirror: find out before either run starts
"${pt_cmd[@]}" --describe > /dev/null
mkdir -p "$out"
echo "recipe $recipe, target $target, $mode, threads=$threads each; PyTorch: $py ${torch_flags[*]}"
echo "cvtrain: ${cv_cmd[*]}" > "$out/commands.txt"
echo "pytorch: ${pt_cmd[*]}" >> "$out/commands.txt"
if [ "$mode" = parallel ]; then
  OMP_NUM_THREADS=$threads "${cv_cmd[@]}" > "$out/cvtrain.log" 2>&1 & cv_pid=$!
  OMP_NUM_THREADS=$threads "${pt_cmd[@]}" > "$out/torch.log" 2>&1 & pt_pid=$!
  cv_rc=0; pt_rc=0
  wait $cv_pid || cv_rc=$?
  wait $pt_pid || pt_rc=$?
else
  cv_rc=0; pt_rc=0
  OMP_NUM_THREADS=$threads "${cv_cmd[@]}" > "$out/cvtrain.log" 2>&1 || cv_rc=$?
  OMP_NUM_THREADS=$threads "${pt_cmd[@]}" > "$out/torch.log" 2>&1 || pt_rc=$?
fi
[ $cv_rc -eq 0 ] || die "cvtrain failed ($cv_rc); see $out/cvtrain.log"
[ $pt_rc -eq 0 ] || die "PyTorch failed ($pt_rc); see $out/torch.log"

python3 - "$out" "$target" <<'PY'
import json, sys
out, target = sys.argv[1], float(sys.argv[2])

def cvtrain_rows():  # every epoch has a line with its training seconds; test_acc is null when not evaluated
    rows, t = [], 0.0
    for line in open(f'{out}/cvtrain/metrics.jsonl'):
        r = json.loads(line)
        t += r['seconds']
        if r.get('test_acc') is not None:
            rows.append((r['epoch'], t, r['test_acc']))
    return rows

def torch_rows():  # a line per evaluated epoch, with the cumulative training seconds
    return [(r['epoch'], r['cum_train_s'], r['test_acc'])
            for r in map(json.loads, (l for l in open(f'{out}/torch.log') if l.startswith('{"epoch"')))]

sides = {'cvtrain': cvtrain_rows(), 'pytorch': torch_rows()}
first = {name: next((r for r in rows if r[2] >= target), None) for name, rows in sides.items()}
summary = {'target': target}
for name, rows in sides.items():
    f = first[name]
    if f:
        print(f'{name}: {100 * target:.1f}% first at epoch {f[0]} ({f[2]:.4f}) after {f[1]:.0f} s of training')
    else:
        print(f'{name}: {100 * target:.1f}% not reached')
    print(f'{name}: final {rows[-1][2]:.4f} at epoch {rows[-1][0]}, {rows[-1][1]:.0f} s of training in all')
    summary[name] = dict(first_epoch=f and f[0], first_s=f and round(f[1], 1), final_acc=rows[-1][2],
                         epochs=rows[-1][0], total_s=round(rows[-1][1], 1))
reached = [(first[n][1], n) for n in sides if first[n]]
if reached:
    t, faster = min(reached)
    parts = []
    for name, rows in sides.items():
        within = [r for r in rows if r[1] <= t]
        acc = within[-1] if within else None
        parts.append(f'{name} ' + (f'{acc[2]:.4f} (epoch {acc[0]}, {acc[1]:.0f} s)' if acc else 'no evaluated epoch yet'))
        summary[name]['acc_at_same_time'] = acc and acc[2]
    print(f'after {t:.0f} s of training ({faster} first at {100 * target:.1f}%): ' + ', '.join(parts))
    summary['same_time_s'] = round(t, 1)
print(json.dumps(summary))
PY
