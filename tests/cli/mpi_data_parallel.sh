#!/usr/bin/env bash
# Data-parallel training under Open MPI, end to end:
#  1. 2 ranks x batch 64 end with the same weights, within f32 tolerance, as 1 rank x batch 128 for
#     the same steps (MLP without dropout: no batch norm, no randomness but the shared shuffle);
#     rank 0 alone prints, and the ranks' weights stay identical bit for bit.
#  2. A run checkpointed on 2 ranks and resumed by 1 plain process (batch 128, the same global
#     batch) ends where the uninterrupted 2-rank run ends.
#  3. A rank killed with SIGKILL makes the job stop, with a message, within a bounded time; a rank
#     that hangs (SIGSTOP: alive, silent, unnoticed by mpirun) is reported by the others'
#     train.dist_timeout_s, and the job ends.
# SKIPs (77) where mpirun is absent or cvtrain was built without MPI.
set -euo pipefail
bin=$1; src=$2
command -v mpirun > /dev/null || { echo "SKIP: no mpirun"; exit 77; }
tmp=$(mktemp -d); trap 'kill -9 $pid 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT
pid=
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1)
common=(train "$src/recipes/fashion_mlp.yaml" --set data.dataset=synthetic --set data.limit_train=512
        --set data.limit_test=128 --set model.dropout=0 --set threads=1 --set train.progress=false
        --set optim.schedule=constant --set optim.lr=0.05 --set train.epochs=1 --set train.tensorboard=false
        --set train.plots=false)

if ! "${mpi[@]}" -np 1 "$bin" "${common[@]}" --set train.batch_size=128 --out "$tmp/one" > "$tmp/one.log" 2>&1; then
  if grep -q "built without MPI" "$tmp/one.log"; then echo "SKIP: cvtrain built without MPI"; exit 77; fi
  cat "$tmp/one.log"; echo "FAIL: 1 rank"; exit 1
fi
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=64 --out "$tmp/two" > "$tmp/two.log" 2>&1 ||
  { cat "$tmp/two.log"; echo "FAIL: 2 ranks"; exit 1; }
grep -q "data-parallel: mpi.*2 ranks, global batch 128" "$tmp/two.log" || { cat "$tmp/two.log"; echo "FAIL: banner"; exit 1; }
[[ $(grep -c "^epoch 1/1" "$tmp/two.log") -eq 1 ]] || { cat "$tmp/two.log"; echo "FAIL: rank 1 printed"; exit 1; }
if grep -q "weights differed" "$tmp/two.log"; then echo "FAIL: the ranks' weights drifted apart"; exit 1; fi
# the time spent waiting for the other rank is logged with several ranks, and only then
grep -q '"comm_wait_s": *[0-9]' "$tmp/two/metrics.jsonl" || { cat "$tmp/two/metrics.jsonl"; echo "FAIL: no comm_wait_s"; exit 1; }
if grep -q comm_wait_s "$tmp/one/metrics.jsonl"; then echo "FAIL: comm_wait_s with one rank"; exit 1; fi

# max |a - b| over every tensor of two safetensors files (f32), stdlib only
compare() { python3 "$src/tests/cli/safetensors_maxdiff.py" "$1" "$2" "$3"; }
compare "$tmp/one/model.safetensors" "$tmp/two/model.safetensors" 1e-5 || { echo "FAIL: 2 ranks differ from 1"; exit 1; }
# a plain process is one rank: the same run as mpirun -np 1, bit for bit
"$bin" "${common[@]}" --set train.batch_size=128 --out "$tmp/plain" > /dev/null 2>&1 || { echo "FAIL: plain run"; exit 1; }
compare "$tmp/one/model.safetensors" "$tmp/plain/model.safetensors" 0 || { echo "FAIL: plain differs from -np 1"; exit 1; }
# ranks that resolve different configs stop before training
if "${mpi[@]}" -np 1 "$bin" "${common[@]}" --out "$tmp/mixed" : -np 1 "$bin" "${common[@]}" --set optim.lr=0.2 \
    --out "$tmp/mixed" > "$tmp/mixed.log" 2>&1; then echo "FAIL: ranks with different configs trained"; exit 1; fi
grep -q "ranks resolved another config than rank 0" "$tmp/mixed.log" || { cat "$tmp/mixed.log"; echo "FAIL: mixed message"; exit 1; }
# and the weights did move: 1 step less differs by far more than the tolerance
"${mpi[@]}" -np 1 "$bin" "${common[@]}" --set train.batch_size=128 --set train.max_steps=3 --out "$tmp/three" > /dev/null 2>&1
if compare "$tmp/one/model.safetensors" "$tmp/three/model.safetensors" 1e-3 > /dev/null; then
  echo "FAIL: the test cannot tell 3 steps from 4"; exit 1
fi

# 2. checkpoint on 2 ranks, resume on 1 plain process with the same global batch
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=64 --set train.checkpoint_every_steps=2 \
  --set train.keep_last=5 --out "$tmp/ck" > "$tmp/ck.log" 2>&1 || { cat "$tmp/ck.log"; echo "FAIL: checkpointed run"; exit 1; }
rm "$tmp/ck/model.safetensors" "$tmp/ck/checkpoints/step-00000004.safetensors"
"$bin" train --resume "$tmp/ck" --set train.batch_size=128 > "$tmp/resume.log" 2>&1 ||
  { cat "$tmp/resume.log"; echo "FAIL: resume on 1 process"; exit 1; }
grep -q "resuming from .*step-00000002" "$tmp/resume.log" || { cat "$tmp/resume.log"; echo "FAIL: resume line"; exit 1; }
compare "$tmp/two/model.safetensors" "$tmp/ck/model.safetensors" 1e-5 || { echo "FAIL: resumed on 1 rank differs"; exit 1; }

# 3. a dead rank stops the job within a bounded time
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=8 --set train.epochs=1000 --set train.dist_timeout_s=20 \
  --out "$tmp/dead" > "$tmp/dead.log" 2>&1 &
pid=$!
victim=
for _ in $(seq 1 600); do  # wait for both ranks, then for training to run
  ranks=($(ps -o pid= --ppid $pid 2>/dev/null || true))
  if [[ ${#ranks[@]} -ge 2 && -e "$tmp/dead/config.yaml" ]]; then victim=${ranks[1]}; break; fi
  sleep 0.1
done
[[ -n $victim ]] || { cat "$tmp/dead.log"; echo "FAIL: ranks not found"; exit 1; }
sleep 1
kill -9 "$victim"
t0=$(date +%s)
for _ in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "FAIL: the job still runs 60 s after a rank died"; exit 1; fi
if wait $pid; then echo "FAIL: the job succeeded with a dead rank"; exit 1; fi
echo "job ended $(( $(date +%s) - t0 )) s after rank 1 was killed"
grep -Eiq "rank|killed|signal|exited" "$tmp/dead.log" || { cat "$tmp/dead.log"; echo "FAIL: no message"; exit 1; }

# a hung rank: the other one's collective times out (train.dist_timeout_s) and aborts the job
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=8 --set train.epochs=1000 --set train.dist_timeout_s=10 \
  --out "$tmp/hung" > "$tmp/hung.log" 2>&1 &
pid=$!
victim=
for _ in $(seq 1 600); do
  ranks=($(ps -o pid= --ppid $pid 2>/dev/null || true))
  if [[ ${#ranks[@]} -ge 2 && -s "$tmp/hung/metrics.jsonl" ]]; then victim=${ranks[1]}; break; fi  # training runs
  sleep 0.1
done
[[ -n $victim ]] || { cat "$tmp/hung.log"; echo "FAIL: ranks not found"; exit 1; }
kill -STOP "$victim"
t0=$(date +%s)
for _ in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then kill -CONT "$victim" 2>/dev/null || true; echo "FAIL: the job still runs 60 s after a rank hung"; exit 1; fi
if wait $pid; then echo "FAIL: the job succeeded with a hung rank"; exit 1; fi
echo "job ended $(( $(date +%s) - t0 )) s after rank 1 hung"
grep -q "no answer from the other ranks for [0-9]* s in" "$tmp/hung.log" || { cat "$tmp/hung.log"; echo "FAIL: no timeout message"; exit 1; }
echo "mpi_data_parallel: 4 passed, 0 failed"
