#!/usr/bin/env bash
# Data-parallel training of a CNN with batch norm under Open MPI, end to end:
#  1. train.sync_bn: 2 ranks x batch 64 end with the same weights and running statistics, within
#     f32 tolerance, as 1 rank x batch 128 (the CNN without dropout), on channels-last and on NCHW
#     activations; without sync_bn they do not (each rank normalizes with its own half's
#     statistics), so the comparison can fail.
#  2. The gradient all-reduce overlapped with the backward pass (train.dist_overlap, small buckets)
#     ends with exactly the bits of the all-reduce after the backward.
# SKIPs (77) where mpirun is absent or cvtrain was built without MPI.
set -euo pipefail
bin=$1; src=$2
command -v mpirun > /dev/null || { echo "SKIP: no mpirun"; exit 77; }
tmp=$(mktemp -d); trap '[[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1)
common=(train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set data.limit_train=384
        --set data.limit_test=64 --set model.dropout=0 --set threads=1 --set train.progress=false
        --set optim.schedule=constant --set optim.lr=0.05 --set train.epochs=1 --set train.tensorboard=false
        --set train.plots=false --set train.eval_batch_size=64)

if ! "${mpi[@]}" -np 1 "$bin" "${common[@]}" --set train.batch_size=128 --out "$tmp/one" > "$tmp/one.log" 2>&1; then
  if grep -q "built without MPI" "$tmp/one.log"; then echo "SKIP: cvtrain built without MPI"; exit 77; fi
  cat "$tmp/one.log"; echo "FAIL: 1 rank"; exit 1
fi
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=64 --set train.sync_bn=true --out "$tmp/sync" \
  > "$tmp/sync.log" 2>&1 || { cat "$tmp/sync.log"; echo "FAIL: 2 ranks with sync_bn"; exit 1; }
if grep -q "weights differed" "$tmp/sync.log"; then echo "FAIL: the ranks' weights drifted apart"; exit 1; fi

# max |a - b| over every f32 tensor (weights and running statistics) of two safetensors files
compare() { python3 "$src/tests/cli/safetensors_maxdiff.py" "$1" "$2" "$3" --need-bn-stats; }
compare "$tmp/one/model.safetensors" "$tmp/sync/model.safetensors" 1e-4 || { echo "FAIL: 2 ranks with sync_bn differ from 1"; exit 1; }
# the same on NCHW activations (the other batch-norm kernels; channels_last is the default)
"${mpi[@]}" -np 1 "$bin" "${common[@]}" --set train.memory_format=nchw --set train.batch_size=128 --out "$tmp/one_nchw" \
  > "$tmp/one_nchw.log" 2>&1 || { cat "$tmp/one_nchw.log"; echo "FAIL: 1 rank, nchw"; exit 1; }
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.memory_format=nchw --set train.batch_size=64 --set train.sync_bn=true \
  --out "$tmp/sync_nchw" > "$tmp/sync_nchw.log" 2>&1 || { cat "$tmp/sync_nchw.log"; echo "FAIL: 2 ranks, nchw"; exit 1; }
compare "$tmp/one_nchw/model.safetensors" "$tmp/sync_nchw/model.safetensors" 1e-4 ||
  { echo "FAIL: 2 ranks with sync_bn differ from 1 (nchw)"; exit 1; }

# without sync_bn the same run ends elsewhere: the comparison above can fail
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=64 --out "$tmp/local" > "$tmp/local.log" 2>&1 ||
  { cat "$tmp/local.log"; echo "FAIL: 2 ranks without sync_bn"; exit 1; }
if compare "$tmp/one/model.safetensors" "$tmp/local/model.safetensors" 1e-3 > /dev/null; then
  echo "FAIL: per-rank statistics end like the global batch's: the test cannot tell"; exit 1
fi

# 2. overlapped and not, small buckets (many of them): the same bits
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=64 --set train.sync_bn=true --set train.dist_bucket_mb=0.02 \
  --set train.dist_overlap=false --out "$tmp/after" > "$tmp/after.log" 2>&1 || { cat "$tmp/after.log"; echo "FAIL: no overlap"; exit 1; }
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --set train.batch_size=64 --set train.sync_bn=true --set train.dist_bucket_mb=0.02 \
  --out "$tmp/overlap" > "$tmp/overlap.log" 2>&1 || { cat "$tmp/overlap.log"; echo "FAIL: overlap"; exit 1; }
compare "$tmp/after/model.safetensors" "$tmp/overlap/model.safetensors" 0 || { echo "FAIL: overlap changed the bits"; exit 1; }
echo "mpi_sync_bn: 4 passed, 0 failed"
