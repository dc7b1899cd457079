#!/usr/bin/env bash
# Data parallel across namespace hosts (scripts/netns-hosts.sh) under emulated networks, for the cost
# model in docs/distributed.md: "bare" is the kernel's veth pairs on a bridge; DELAY_US:RATE_MBIT runs
# the hosts on build/bench/net_wire (this kernel has no tc netem), every packet delayed DELAY_US one
# way and each host's link limited to RATE_MBIT (0:0, the wire alone, shows its own cost). For each
# network:
#  1. the all-reduce alone (build/bench/allreduce_mpi) on 2, 3 and 4 hosts, f32 buffers of 4 B to
#     4 MiB: allreduce.jsonl;
#  2. training on 2 hosts x 1 thread x batch 64 (CNN and ResNet-20, fp32): step time and the time
#     each step waits for the other rank (comm_wait_s), with the overlapped all-reduce on and off and
#     buckets of 0.25, 1 and 4 MiB, and local SGD (train.dist_local_sgd) where VARIANTS asks: train.jsonl;
# and once, on one bare host, the same training as one process with batch 64 (its compute alone).
# Then bench/fit_allreduce.py OUT_DIR fits the ring model and projects.
#
#   bench/multihost_netem.sh [BUILD_DIR] [OUT_DIR]   (root; about 15 minutes on 2 cores)
#   env: NETS   (default "bare 0:0 100:10000 1000:1000 10000:100")
#        MODELS (default "cnn resnet20"), STEPS_cnn / STEPS_resnet20 (default 120 / 60)
#        VARIANTS (default "true:1 false:1 true:0.25 true:4": overlap:bucket_mb; local:N is local SGD
#                  averaging every N steps), SKIP_ALLREDUCE=1 (training only)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=${2:-/tmp/multihost_netem}
nets=${NETS:-bare 0:0 100:10000 1000:1000 10000:100}
models=${MODELS:-cnn resnet20}
variants=${VARIANTS:-true:1 false:1 true:0.25 true:4}
hosts=$root/scripts/netns-hosts.sh
[[ -x $build/bench/allreduce_mpi ]] || { echo "multihost_netem: no $build/bench/allreduce_mpi (MPI not found?)" >&2; exit 2; }
mkdir -p "$out"
: > "$out/allreduce.jsonl"
: > "$out/train.jsonl"
trap '"$hosts" down 2> /dev/null || true' EXIT
"$hosts" up 4

steps_of() { local v="STEPS_$1"; echo "${!v:-$([[ $1 == cnn ]] && echo 120 || echo 60)}"; }
train_args() {  # model steps
  echo train "$root/recipes/fashion_$1.yaml" --set data.limit_train=$(( $2 * 128 )) --set data.limit_test=256 \
    --set train.epochs=1 --set train.batch_size=64 --set threads=1 --set train.progress=false \
    --set train.tensorboard=false --set train.plots=false --set optim.schedule=constant --set optim.lr=0.01
}
# one JSON line from a run folder's first epoch, tagged
record() {  # dir net model ranks overlap bucket_mb [local_sgd]
  python3 - "$@" <<'PY' >> "$out/train.jsonl"
import json, sys
d, net, model, ranks, overlap, bucket = sys.argv[1:7]
local = int(sys.argv[7]) if len(sys.argv) > 7 else 0
m = json.loads(open(f"{d}/metrics.jsonl").readline())
steps = m["step"]
print(json.dumps({"net": net, "model": model, "ranks": int(ranks), "overlap": overlap == "true",
                  "bucket_mb": float(bucket), "steps": steps, "step_s": m["seconds"] / steps,
                  "comm_wait_s_per_step": m.get("comm_wait_s", 0.0) / steps, "images_per_s": m["images_per_s"],
                  **({"local_sgd": local} if local else {})}))
PY
}

for model in $models; do  # compute alone: one process, batch 64, on a bare host
  steps=$(steps_of "$model")
  rm -rf "$out/run"
  ip netns exec cvt-h1 env OMP_NUM_THREADS=1 "$build/cvtrain" $(train_args "$model" $((steps / 2))) --out "$out/run" > /dev/null
  record "$out/run" none "$model" 1 false 0
done

for net in $nets; do
  if [[ $net == bare ]]; then "$hosts" up 4; else CVTRAIN_NET_WIRE=$build/bench/net_wire "$hosts" wire 4 "${net%%:*}" "${net##*:}"; fi
  for p in $([[ -n ${SKIP_ALLREDUCE:-} ]] || echo 2 3 4); do
    "$hosts" mpirun "$p" --mca mpi_yield_when_idle 1 "$build/bench/allreduce_mpi" --reps 15 |
      sed "s/^{/{\"net\": \"$net\", /" >> "$out/allreduce.jsonl"
  done
  for model in $models; do
    steps=$(steps_of "$model")
    for variant in $variants; do  # the keys it sets, and record's tags for them
      if [[ $variant == local:* ]]; then
        keys=(--set train.dist_local_sgd="${variant#local:}") tags=(false 0 "${variant#local:}")
      else
        keys=(--set train.dist_overlap="${variant%%:*}" --set train.dist_bucket_mb="${variant##*:}")
        tags=("${variant%%:*}" "${variant##*:}")
      fi
      rm -rf "$out/run"
      "$hosts" mpirun 2 "$build/cvtrain" $(train_args "$model" "$steps") "${keys[@]}" --out "$out/run" > /dev/null
      record "$out/run" "$net" "$model" 2 "${tags[@]}"
    done
  done
  echo "multihost_netem: $net done" >&2
done
rm -rf "$out/run"
echo "multihost_netem: $out/allreduce.jsonl, $out/train.jsonl; next: python3 bench/fit_allreduce.py $out" >&2
