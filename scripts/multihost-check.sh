#!/usr/bin/env bash
# Data-parallel training across "hosts" that only share a TCP network: network namespaces on this
# machine (scripts/netns-hosts.sh), one Open MPI rank in each, TCP the only transport.
#  1. N hosts x batch 64 end with the same weights, within f32 tolerance, as one process with the
#     global batch 64N; the gradients did cross the link (host 2's interface counted the bytes).
#  2. Host 2's link goes down mid-run: every process of the job (ranks, Open MPI's daemons, mpirun)
#     ends within a deadline, with a message and a non-zero exit code; with the link back,
#     `--resume` finishes the run, and it ends where an uninterrupted run ends.
#
#   scripts/multihost-check.sh [CVTRAIN] [--hosts N]   (root; about 2 minutes; N = 2..4, default 2)
# Exits 77 with a message where namespaces cannot be made, mpirun is absent or cvtrain lacks MPI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/cvtrain
n=2
while (($#)); do
  case "$1" in
    --hosts) n=${2:?--hosts N}; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) bin=$1; shift ;;
  esac
done
[[ $n =~ ^[2-4]$ ]] || { echo "multihost-check: --hosts must be 2, 3 or 4" >&2; exit 2; }
command -v mpirun > /dev/null || { echo "SKIP: no mpirun"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root for network namespaces"; exit 77; }
hosts=$root/scripts/netns-hosts.sh
tmp=$(mktemp -d /tmp/multihost.XXXXXX)
cleanup() { "$hosts" down 2> /dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$tmp"; }
trap cleanup EXIT
rc=0; "$hosts" up "$n" || rc=$?
((rc == 77)) && { echo "SKIP: network namespaces not allowed here"; exit 77; }
((rc == 0)) || exit "$rc"

fail() { echo "FAIL: $*"; exit 1; }
common=(train "$root/recipes/fashion_mlp.yaml" --set data.dataset=synthetic --set data.limit_train=768
        --set data.limit_test=128 --set model.dropout=0 --set threads=1 --set train.progress=false
        --set optim.schedule=constant --set optim.lr=0.05 --set train.tensorboard=false --set train.plots=false)
compare() { python3 "$root/tests/cli/safetensors_maxdiff.py" "$1" "$2" "$3"; }
tx_bytes() { ip netns exec cvt-h2 cat /sys/class/net/eth0/statistics/tx_bytes; }

# 1. the same weights as one process with the global batch
before=$(tx_bytes)
"$hosts" mpirun "$n" "$bin" "${common[@]}" --set train.epochs=1 --set train.batch_size=64 --out "$tmp/hosts" \
  > "$tmp/hosts.log" 2>&1 || { grep -q "built without MPI" "$tmp/hosts.log" && { echo "SKIP: cvtrain built without MPI"; exit 77; }
                             cat "$tmp/hosts.log"; fail "$n hosts"; }
sent=$(( $(tx_bytes) - before ))
grep -q "data-parallel: mpi.*$n ranks, global batch $((64 * n))" "$tmp/hosts.log" || { cat "$tmp/hosts.log"; fail "banner"; }
"$bin" "${common[@]}" --set train.epochs=1 --set train.batch_size=$((64 * n)) --out "$tmp/one" > "$tmp/one.log" 2>&1 ||
  { cat "$tmp/one.log"; fail "one process"; }
compare "$tmp/one/model.safetensors" "$tmp/hosts/model.safetensors" 1e-5 || fail "$n hosts differ from one process"
# each of the steps all-reduces the MLP's 535,818 gradients (2.1 MB); a ring sends (N-1)/N of them
steps=$(( (768 + 64 * n - 1) / (64 * n) ))
need=$(( steps * 535818 * 4 * (n - 1) / n ))
((sent >= need)) || fail "host 2 sent $sent bytes, less than the $need its gradients need: not over TCP?"
echo "ok: $n hosts over TCP give one process's weights ($steps steps; host 2 sent $((sent / 1024)) KiB)"

# 2. a host loses its link mid-run; the job ends within a deadline; --resume finishes it
run2=(--set train.epochs=4 --set train.batch_size=16 --set train.checkpoint_every_steps=8
      --set train.dist_timeout_s=10)
"$hosts" mpirun "$n" "$bin" "${common[@]}" "${run2[@]}" --out "$tmp/whole" > "$tmp/whole.log" 2>&1 ||
  { cat "$tmp/whole.log"; fail "uninterrupted run"; }
"$hosts" mpirun "$n" "$bin" "${common[@]}" "${run2[@]}" --out "$tmp/cut" > "$tmp/cut.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do  # until the first checkpoint is written
  compgen -G "$tmp/cut/checkpoints/step-*.safetensors" > /dev/null && break
  kill -0 $pid 2> /dev/null || break
  sleep 0.1
done
kill -0 $pid 2> /dev/null || { cat "$tmp/cut.log"; fail "the run ended before its link was cut"; }
"$hosts" cut 2
t0=$(date +%s)
deadline=90
in_hosts() { for k in $(seq 1 "$n"); do ip netns pids "cvt-h$k"; done | wc -l; }  # ranks, daemons, mpirun
for _ in $(seq 1 $((deadline * 10))); do (( $(in_hosts) > 0 )) || break; sleep 0.1; done
left=$(in_hosts)
((left == 0)) || fail "$left processes of the job still live in the hosts $deadline s after the cut"
job_rc=0; wait $pid || job_rc=$?
((job_rc != 0)) || fail "the job succeeded without host 2"
grep -q "no answer from the other ranks for [0-9]* s in" "$tmp/cut.log" || { cat "$tmp/cut.log"; fail "no message"; }
echo "ok: host 2's link cut: the whole job ended after $(( $(date +%s) - t0 )) s with exit code $job_rc and a message"
"$hosts" mend 2
"$hosts" mpirun "$n" "$bin" train --resume "$tmp/cut" > "$tmp/resume.log" 2>&1 || { cat "$tmp/resume.log"; fail "resume"; }
grep -q "resuming from .*step-" "$tmp/resume.log" || { cat "$tmp/resume.log"; fail "resume line"; }
compare "$tmp/whole/model.safetensors" "$tmp/cut/model.safetensors" 1e-5 || fail "resumed run differs from the whole run"
echo "ok: --resume on the $n hosts finished the run, with the uninterrupted run's weights"
echo "multihost-check: $n hosts, 3 passed, 0 failed"
