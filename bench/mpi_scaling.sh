#!/bin/bash
# Data-parallel scaling on one machine (docs/distributed.md): 1 process x 1 thread, 1 x 2 threads and
# 2 MPI ranks x 1 thread (overlapped all-reduce on and off), CNN 300 steps and ResNet-20 150 steps,
# each twice; prints training images/s. usage: bench/mpi_scaling.sh [CVTRAIN_BINARY]
cd "$(dirname "$0")/.."
B=${1:-build/cvtrain}
for spec in cnn:300 resnet20:150; do
  M=${spec%:*}; S=${spec#*:}
  common=(train recipes/fashion_$M.yaml --set data.limit_train=$((S*128)) --set data.limit_test=256 --set train.epochs=1 --set train.progress=false --set train.tensorboard=false --set train.plots=false --set optim.schedule=constant --set optim.lr=0.01)
  for rep in 1 2; do
    o=/tmp/mpiq; rm -rf $o*
    OMP_NUM_THREADS=1 $B "${common[@]}" --out ${o}p1 --set threads=1 --set train.batch_size=128 >/dev/null 2>&1
    echo "$M rep$rep plain 1 thread: $(python3 -c "import json;print(round(json.loads(open('${o}p1/metrics.jsonl').readline())['images_per_s']))")"
    OMP_NUM_THREADS=2 $B "${common[@]}" --out ${o}p2 --set threads=2 --set train.batch_size=128 >/dev/null 2>&1
    echo "$M rep$rep plain 2 threads: $(python3 -c "import json;print(round(json.loads(open('${o}p2/metrics.jsonl').readline())['images_per_s']))")"
    for ov in true false; do
      mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 -x OMP_NUM_THREADS=1 $B "${common[@]}" --out ${o}m$ov --set threads=1 --set train.batch_size=64 --set train.dist_overlap=$ov >/dev/null 2>&1
      echo "$M rep$rep 2 ranks x 1 thread overlap=$ov: $(python3 -c "import json;print(round(json.loads(open('${o}m$ov/metrics.jsonl').readline())['images_per_s']))")"
    done
  done
done
