#!/usr/bin/env bash
# The CUDA backend's checks on a GPU machine (docs/cuda.md). Two halves:
#   scripts/gpu-check.sh prepare BUILD_DIR   here (a -DCVTRAIN_CUDA=ON build): gathers BUILD_DIR/carry/
#       with the stripped binaries, the Debian .so files they need (xz), Fashion-MNIST and the PyTorch
#       anchor, for a GPU machine that has the CUDA runtime, cuBLAS and cuDNN but not our Debian libraries;
#   scripts/gpu-check.sh run CARRY_DIR [smoke|train|full]   there: parity suite, CPU-vs-GPU losses of the
#       first ResNet-20 steps (f32, then bf16 against f32), checkpoints across devices, `cvtrain bench`
#       with each fast path on and then switched off one at a time, then (full) the PyTorch anchor and
#       recipes/fashion_resnet20_gpu.yaml on the same GPU (train: the same without the anchor). Every check prints one line
#       "PASS|FAIL|INFO name (seconds): what"; all lines are also in $OUT/summary.txt (or ./gpu-check-out).
#       Environment switches (docs/cuda.md) pass through: CVTRAIN_CUDA_BF16=0, CVTRAIN_CUDA_NHWC=0,
#       CVTRAIN_CUDA_BN=cudnn, CVTRAIN_CUDA_FUSED=0, CVTRAIN_CUDA_BF16_GEMM=0, CVTRAIN_CUDA_ASYNC_COPY=0.
#       About 4 minutes (full) on an H200.
set -uo pipefail

cmd=${1:-}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $cmd == prepare ]]; then
  build=${2:?usage: gpu-check.sh prepare BUILD_DIR}
  carry=$build/carry
  rm -rf "$carry" && mkdir -p "$carry/lib" "$carry/fmnist" "$carry/bin"
  for b in cvtrain tests/test_cuda; do strip -o "$carry/bin/$(basename $b)" "$build/$b"; done
  # every shared library the binaries load, except glibc's, the C++ runtime (the GPU machine's is
  # newer) and CUDA's own (the machine has them; NCCL (217 MB) is in PyTorch's venv there, but build
  # with -DCVTRAIN_NCCL=OFF for these checks: nothing here needs it)
  ldd "$build/cvtrain" "$build/tests/test_cuda" | awk '/=> \//{print $3}' | sort -u |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so|libcudart|libcublas|libcudnn|libnccl' |
    while read -r so; do cp -L "$so" "$carry/lib/"; done
  tar -C "$carry" -cJf "$carry/lib.tar.xz" lib && rm -rf "$carry/lib"
  cp /usr/share/datasets/fashion-mnist/*.gz "$carry/fmnist/"
  cp "$root/../shared/anchors/torch_fmnist.py" "$carry/"
  du -sh "$carry" "$carry"/*
  (( $(du -sm "$carry" | cut -f1) < 60 )) || echo "WARNING: the carry is over 60 MiB (the device tool takes 64 MiB in all)"
  exit 0
fi

[[ $cmd == run ]] || { echo "usage: gpu-check.sh prepare BUILD_DIR | run CARRY_DIR [smoke|train|full]" >&2; exit 2; }
carry=$(cd "${2:?CARRY_DIR}" && pwd)
mode=${3:-full}
out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
T_START=$(date +%s)
log() { echo "== $(date +%T) (+$(( $(date +%s) - T_START ))s) $*" | tee -a "$out/summary.txt"; }
say() { echo "$*" | tee -a "$out/summary.txt"; }
# verdict NAME RC SECONDS WHAT: one PASS/FAIL line
verdict() { say "$([[ $2 == 0 ]] && echo PASS || echo "FAIL(rc $2)") $1 ($3 s): $4"; }
work=/tmp/cvtrain-gpu && rm -rf $work && mkdir -p $work
tar -C $work -xJf "$carry/lib.tar.xz"
cudnn=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/cudnn/lib 2>/dev/null | head -1)
nccl=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/nccl/lib 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$work/lib:${cudnn}:/usr/local/cuda/lib64:${nccl}:${LD_LIBRARY_PATH:-}
bin=$carry/bin
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$out/summary.txt"
env | grep -E '^CVTRAIN_CUDA' | tee -a "$out/summary.txt"
missing=$(ldd $bin/cvtrain | grep -c "not found")
verdict "libraries" $missing 0 "$missing not found (ldd $bin/cvtrain)"

if [[ $mode == sweep ]]; then
  # sweep: recipe variants side by side on the one GPU (timings meaningless, accuracies per epoch
  # not): for choosing recipes/fashion_resnet20_gpu.yaml. Variants from $SWEEP, ';'-separated
  # lists of --set overrides.
  IFS=';' read -ra variants <<< "${SWEEP:?SWEEP='--set a=b --set c=d;...'}"
  k=0
  for v in "${variants[@]}"; do
    k=$((k+1))
    # shellcheck disable=SC2086
    timeout 240 $bin/cvtrain train $root/recipes/fashion_resnet20_gpu.yaml --out $work/sweep$k --set data.root=$carry/fmnist \
      --set train.progress=false --set data.workers=2 --set threads=2 $v > "$out/sweep$k.txt" 2>&1 &
  done
  wait
  k=0
  for v in "${variants[@]}"; do
    k=$((k+1))
    say "sweep$k: $v"
    python3 -c "import json,sys
for l in open(sys.argv[1]): m=json.loads(l); print(f\"  epoch {m['epoch']}: test_acc {m.get('test_acc') or 0:.4f}\")" \
      $work/sweep$k/metrics.jsonl 2>&1 | tail -4 | tee -a "$out/summary.txt"
  done
  exit 0
fi

log "parity suite (tests/cuda): one line per test"
t=$(date +%s)
timeout 150 $bin/test_cuda > "$out/parity.txt" 2>&1
rc=$?
grep -E '^\[ +(OK|FAILED) +\] CudaParity\.[A-Za-z0-9_]+ \(' "$out/parity.txt" | sort -u |
  sed -E 's/^\[ +OK +\] (.*) \((.*) ms\)/PASS \1 (\2 ms)/; s/^\[ +FAILED +\] (.*) \((.*) ms\)/FAIL \1 (\2 ms)/' |
  tee -a "$out/summary.txt"
grep -E "^\[ +SKIPPED" "$out/parity.txt" | sort -u | tee -a "$out/summary.txt"
grep -E "Failure|element|Expected|Which is" "$out/parity.txt" | head -30 | tee -a "$out/summary.txt"
verdict "parity suite" $rc $(( $(date +%s) - t )) "$(grep -E '^\[  PASSED|^\[  FAILED  \] [0-9]' "$out/parity.txt" | tr '\n' ' ')"

# A config for the device runs: ResNet-20 on the carried Fashion-MNIST.
cfg=$work/r20.yaml
cat > $cfg <<YAML
seed: 0
threads: 8
data: {dataset: fashion_mnist, root: $carry/fmnist, workers: 6}
model: {name: resnet20}
train: {epochs: 1, batch_size: 128, log_every_steps: 1, checkpoint_every_steps: 0}
optim: {name: sgd, lr: 0.1, weight_decay: 5.0e-4, schedule: onecycle}
YAML

log "CPU vs GPU: the first 8 ResNet-20 steps (constant lr 0.02; TF32 off on the GPU: NVIDIA_TF32_OVERRIDE=0)"
t=$(date +%s)
e2e=(--set train.max_steps=8 --set data.limit_train=1024 --set data.limit_test=512 --set optim.schedule=constant
     --set optim.lr=0.02)
# cpu1: the same run on 1 CPU thread, for the size of plain f32 rounding differences after 8 steps;
# cuda_bf16 / cuda_tf32: bf16 against f32 on the GPU (TF32 on, as a real run)
for dev in cpu cpu1 cuda cuda_bf16 cuda_tf32; do
  d=${dev%1}; d=${d%_bf16}; d=${d%_tf32}
  extra=()
  [[ $dev == cpu1 ]] && extra=(--set threads=1)
  [[ $dev == cuda_bf16 ]] && extra=(--set train.precision=bf16)
  tf32=0; [[ $dev == cuda_bf16 || $dev == cuda_tf32 ]] && tf32=1
  NVIDIA_TF32_OVERRIDE=$tf32 timeout 120 $bin/cvtrain train $cfg --out $work/e2e_$dev --set device=$d "${e2e[@]}" \
    "${extra[@]}" > $work/e2e_$dev.log 2>&1
  echo "train $dev exit $?" | tee -a "$out/summary.txt"; tail -1 $work/e2e_$dev.log
done
# checkpoints move between devices: the CPU run's step-4 checkpoint resumed once on the CPU and once on
# the GPU (steps 5-8 must agree as above), and the GPU-trained model evaluated on the CPU.
# NOTE: a run ended by max_steps finishes its epoch, so the resumed steps start epoch 2.
timeout 60 $bin/cvtrain train $cfg --out $work/e2e_from --set device=cpu "${e2e[@]}" --set train.max_steps=4 \
  --set train.checkpoint_every_steps=4 > $work/e2e_from.log 2>&1
for dev in cpu cuda; do
  cp -r $work/e2e_from $work/e2e_resumed_$dev && rm -f $work/e2e_resumed_$dev/model.safetensors  # unfinished again
  NVIDIA_TF32_OVERRIDE=0 timeout 60 $bin/cvtrain train --resume $work/e2e_resumed_$dev --set device=$dev \
    --set train.max_steps=8 > $work/e2e_resumed_$dev.log 2>&1
  echo "resume on $dev exit $?" | tee -a "$out/summary.txt"; tail -1 $work/e2e_resumed_$dev.log | tee -a "$out/summary.txt"
done
timeout 60 $bin/cvtrain eval $work/e2e_cuda --set data.limit_test=512 --json 2>&1 | tail -1 | tee -a "$out/summary.txt"
grep -h "test accuracy" $work/e2e_cuda.log | tee -a "$out/summary.txt"
python3 - "$work" <<'PY' 2>&1 | tee -a "$out/summary.txt"
import json, os, sys
w = sys.argv[1]
def load(d):
    p = f"{w}/e2e_{d}/steps.jsonl"
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
rows = {d: load(d) for d in ("cpu", "cpu1", "cuda", "resumed_cpu", "resumed_cuda", "cuda_bf16", "cuda_tf32")}
def worst(ref, other, show=True):
    w_ = 0.0
    for a, b in zip(rows[ref], rows[other]):
        rel = abs(a["loss"] - b["loss"]) / max(1e-6, abs(a["loss"]))
        w_ = max(w_, rel)
        if show: print(f"  step {a['step']}: {ref} {a['loss']:.6f} {other} {b['loss']:.6f} rel {rel:.2e}")
    return w_
base = worst("cpu", "cpu1", False)
tol = max(1e-4, 10 * base)
for ref, other, t in (("cpu", "cuda", tol), ("resumed_cpu", "resumed_cuda", tol), ("cuda_tf32", "cuda_bf16", 0.05)):
    w_ = worst(ref, other)
    ok = w_ <= t and len(rows[other]) == len(rows[ref]) and len(rows[ref]) > 0
    print(f"{'PASS' if ok else 'FAIL'} e2e {ref} vs {other} (-): worst relative loss difference {w_:.2e} over "
          f"{len(rows[other])} steps (tolerance {t:.1e}; cpu 8 threads vs 1: {base:.2e})")
PY
# the options added to the GPU backend last, CPU against GPU over 8 steps each:
# NAME|RECIPE-or-config|overrides (fashion_cnn has dropout and max pooling; mixup uses the soft-target loss)
opts=("adamw|$cfg|--set optim.name=adamw --set optim.lr=0.001"
      "clip|$cfg|--set train.clip_grad_norm=0.5 --set train.clip_grad_value=0.02"
      "mixup|$cfg|--set data.mixup_alpha=0.4"
      "cnn_dropout|$root/recipes/fashion_cnn.yaml|--set data.root=$carry/fmnist --set train.log_every_steps=1")
for o in "${opts[@]}"; do
  IFS='|' read -r name conf extra <<< "$o"
  for dev in cpu cuda; do
    # shellcheck disable=SC2086
    NVIDIA_TF32_OVERRIDE=0 timeout 60 $bin/cvtrain train $conf --out $work/opt_${name}_$dev --set device=$dev \
      "${e2e[@]}" --set train.progress=false $extra > $work/opt_${name}_$dev.log 2>&1 || tail -2 $work/opt_${name}_$dev.log
  done
done
python3 - "$work" "${opts[@]}" <<'PY' 2>&1 | tee -a "$out/summary.txt"
import json, os, sys
w = sys.argv[1]
for o in sys.argv[2:]:
    name = o.split("|")[0]
    def load(d):
        p = f"{w}/opt_{name}_{d}/steps.jsonl"
        return [json.loads(l)["loss"] for l in open(p)] if os.path.exists(p) else []
    a, b = load("cpu"), load("cuda")
    worst = max((abs(x - y) / max(1e-6, abs(x)) for x, y in zip(a, b)), default=float("inf"))
    ok = len(a) == len(b) > 0 and worst <= 3e-2
    print(f"{'PASS' if ok else 'FAIL'} e2e option {name} cpu vs cuda (-): {len(a)}/{len(b)} steps, worst relative loss "
          f"difference {worst:.2e} (tolerance 3e-2); cuda losses {' '.join(f'{x:.4f}' for x in b)}")
PY
log "e2e done in $(( $(date +%s) - t )) s"

# bench NAME ENV... -- ARGS...: cvtrain bench of ResNet-20 on the GPU, one PASS/FAIL line with images/s
bench() {
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  local t0=$(date +%s)
  env "${envs[@]}" timeout 60 $bin/cvtrain bench $cfg --set device=cuda --set train.eval_batch_size=1000 --steps 30 \
    --json "$@" > $work/bench_$name.txt 2>&1
  local rc=$?
  local ips=$(tail -1 $work/bench_$name.txt | python3 -c "import json,sys
try:
  j=json.loads(sys.stdin.read()); print(f\"train {j['train_images_per_s']:.0f} img/s, eval {j['eval_images_per_s']:.0f} img/s, {j['system_allocations']} allocations\")
except Exception as e: print('no result:', e)")
  verdict "bench $name" $rc $(( $(date +%s) - t0 )) "${envs[*]} $* : $ips"
  [[ $rc == 0 ]] || tail -3 $work/bench_$name.txt | tee -a "$out/summary.txt"
}
log "cvtrain bench resnet20 on cuda: every fast path on, then each switched off (batch 512 unless named)"
bench bs512_bf16 X=1 -- --set train.batch_size=512 --set train.precision=bf16
bench bs512_f32 X=1 -- --set train.batch_size=512
bench bs512_bf16_nchw CVTRAIN_CUDA_NHWC=0 -- --set train.batch_size=512 --set train.precision=bf16
bench bs512_bf16_unfused CVTRAIN_CUDA_FUSED=0 -- --set train.batch_size=512 --set train.precision=bf16
bench bs512_bf16_cudnn_bn CVTRAIN_CUDA_BN=cudnn CVTRAIN_CUDA_FUSED=0 -- --set train.batch_size=512 --set train.precision=bf16
bench bs512_f32_before CVTRAIN_CUDA_BN=cudnn CVTRAIN_CUDA_FUSED=0 -- --set train.batch_size=512
bench bs256_f32 X=1 -- --set train.batch_size=256
bench bs256_bf16 X=1 -- --set train.batch_size=256 --set train.precision=bf16
bench bs128_f32 X=1 -- --set train.batch_size=128
bench bs128_bf16 X=1 -- --set train.batch_size=128 --set train.precision=bf16
# profile NAME ARGS...: time per CUDA kernel over 10 training steps (CVTRAIN_CUDA_PROFILE=1: synchronized)
profile() {
  local name=$1; shift
  log "time per CUDA kernel, resnet20 $name, 10 training steps (CVTRAIN_CUDA_PROFILE=1: synchronized)"
  CVTRAIN_CUDA_PROFILE=1 timeout 60 $bin/cvtrain bench $cfg --set device=cuda --steps 10 "$@" > /dev/null \
    2> "$out/profile_$name.txt"
  head -16 "$out/profile_$name.txt" | tee -a "$out/summary.txt"
}
profile bs512_f32 --set train.batch_size=512
profile bs512_bf16 --set train.batch_size=512 --set train.precision=bf16
profile bs128_bf16 --set train.batch_size=128 --set train.precision=bf16
[[ $mode == smoke ]] && { log "smoke done"; exit 0; }

anchor() {  # anchor NAME ARGS...: the PyTorch reference on the same GPU, one run at a time
  local name=$1; shift
  log "PyTorch anchor ($name): torch_fmnist.py resnet20 $*"
  local t0=$(date +%s)
  ( cd $work && PYTHONUNBUFFERED=1 timeout 150 python3 $carry/torch_fmnist.py resnet20 "$@" --device cuda --aug \
      --data $carry/fmnist > "$out/torch_$name.txt" 2>&1 )
  local rc=$?
  say "INFO anchor $name ($(( $(date +%s) - t0 )) s, rc $rc): $(tail -2 "$out/torch_$name.txt" | tr '\n' ' ')"
}
[[ $mode == full ]] && anchor bf16 10 --bs 512 --lr 0.2 --amp --channels-last

# train NAME RECIPE ARGS...: a cvtrain run, its wall time, the test accuracy per epoch against the
# cumulative training seconds, and when 94% was first reached
train() {
  local name=$1 recipe=$2; shift 2
  log "cvtrain ($name): $recipe $*"
  local t0=$(date +%s)
  timeout 150 $bin/cvtrain train $root/$recipe --out $work/$name --set data.root=$carry/fmnist \
    --set train.progress=false "$@" > "$out/cvtrain_$name.txt" 2>&1
  local rc=$? wall=$(( $(date +%s) - t0 ))
  tail -2 "$out/cvtrain_$name.txt" | tee -a "$out/summary.txt"
  python3 - $work/$name/metrics.jsonl "$name" "$rc" "$wall" <<'PY' 2>&1 | tee -a "$out/summary.txt"
import json, sys
path, name, rc, wall = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t, hit, last = 0.0, None, None
try:
    for l in open(path):
        m = json.loads(l); t += m["seconds"]
        if hit is None and (m.get("test_acc") or 0) >= 0.94: hit = (m["epoch"], t)
        last = m
except OSError:
    pass
if last is None:
    print(f"FAIL(rc {rc}) train {name} ({wall} s): no metrics")
else:
    ok = rc == 0 and hit is not None and hit[1] < 20
    print(f"{'PASS' if ok else 'FAIL'} train {name} ({wall} s wall, process): {last['epoch']} epochs, {t:.1f} s of "
          f"training, final test_acc {last['test_acc']:.4f}, {last['images_per_s']:.0f} img/s in the last epoch "
          f"(waiting for the loader {last.get('data_wait_s', -1):.2f} s of {last['seconds']:.2f}); "
          + (f"94% first at epoch {hit[0]} after {hit[1]:.1f} s of training" if hit else "94% not reached")
          + " (target: 94% within 20 s)")
PY
}
train r20_gpu recipes/fashion_resnet20_gpu.yaml
train r20_gpu_seed1 recipes/fashion_resnet20_gpu.yaml --set seed=1
train r20_gpu_e20 recipes/fashion_resnet20_gpu.yaml --set train.epochs=20
CVTRAIN_CUDA_ASYNC_COPY=0 train r20_gpu_sync_copy recipes/fashion_resnet20_gpu.yaml
[[ $mode == full ]] && train r20_gpu_bf16 recipes/fashion_resnet20_gpu.yaml --set train.precision=bf16
log "done: $(( $(date +%s) - T_START )) s in all"
