#!/bin/bash
# A/B of two cvtrain binaries on `cvtrain bench`, runs interleaved (old, new, old, new, ...) so that
# load drifts hit both alike; prints each binary's train img/s per round and the median. Not a test.
# Usage: bench/ab_bench.sh OLD_BINARY NEW_BINARY [ROUNDS=5] [PRECISION=fp32] [THREADS=2] [RECIPE=recipes/fashion_cnn.yaml]
# (copy the old binary aside before rebuilding: cp build/cvtrain /tmp/cvtrain.old)
set -euo pipefail
OLD=$1 NEW=$2 R=${3:-5} P=${4:-fp32} T=${5:-2} RECIPE=${6:-recipes/fashion_cnn.yaml}
for i in $(seq "$R"); do for b in "$OLD" "$NEW"; do
  v=$("$b" bench "$RECIPE" --steps 30 --set train.precision="$P" --set threads="$T" 2>&1 | grep -o "train [0-9]* img/s" | grep -o "[0-9]*")
  echo "$b $v"
done; done | python3 -c '
import sys, statistics
d = {}
for line in sys.stdin:
    b, v = line.split()
    d.setdefault(b, []).append(int(v))
for b, v in d.items():
    print(b, v, "median", statistics.median(v))'
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); precision $P, $T threads, $RECIPE"
