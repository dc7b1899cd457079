#!/usr/bin/env bash
# The CUDA backend's checks on a GPU machine (issue 10; docs/cuda.md). Two halves:
#   scripts/gpu-check.sh prepare BUILD_DIR   here (a -DCVTRAIN_CUDA=ON build): gathers BUILD_DIR/carry/
#       with the stripped binaries, the Debian .so files they need (xz), Fashion-MNIST and the PyTorch
#       anchor, for a GPU machine that has the CUDA runtime, cuBLAS and cuDNN but not our Debian libraries;
#   scripts/gpu-check.sh run CARRY_DIR [smoke|full]   there: parity suite, CPU-vs-GPU losses of the
#       first ResNet-20 steps, checkpoints across devices, `cvtrain bench`, then (full) the PyTorch
#       anchor and ResNet-20 runs on the same GPU. Writes everything to $OUT (or ./gpu-check-out).
set -uo pipefail

cmd=${1:-}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $cmd == prepare ]]; then
  build=${2:?usage: gpu-check.sh prepare BUILD_DIR}
  carry=$build/carry
  rm -rf "$carry" && mkdir -p "$carry/lib" "$carry/fmnist" "$carry/bin"
  for b in cvtrain tests/test_cuda; do strip -o "$carry/bin/$(basename $b)" "$build/$b"; done
  # every shared library the binaries load, except glibc's, the C++ runtime (the GPU machine's is
  # newer) and CUDA's own (the machine has them)
  ldd "$build/cvtrain" "$build/tests/test_cuda" | awk '/=> \//{print $3}' | sort -u |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so|libcudart|libcublas|libcudnn' |
    while read -r so; do cp -L "$so" "$carry/lib/"; done
  tar -C "$carry" -cJf "$carry/lib.tar.xz" lib && rm -rf "$carry/lib"
  cp /usr/share/datasets/fashion-mnist/*.gz "$carry/fmnist/"
  cp "$root/../shared/anchors/torch_fmnist.py" "$carry/"
  du -sh "$carry" "$carry"/*
  exit 0
fi

[[ $cmd == run ]] || { echo "usage: gpu-check.sh prepare BUILD_DIR | run CARRY_DIR [smoke|full]" >&2; exit 2; }
carry=$(cd "${2:?CARRY_DIR}" && pwd)
mode=${3:-full}
out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
log() { echo "== $(date +%T) $*" | tee -a "$out/summary.txt"; }
work=/tmp/cvtrain-gpu && rm -rf $work && mkdir -p $work
tar -C $work -xJf "$carry/lib.tar.xz"
cudnn=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/cudnn/lib 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$work/lib:${cudnn}:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
bin=$carry/bin
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$out/summary.txt"
log "ldd check"; ldd $bin/cvtrain | grep "not found" | tee -a "$out/summary.txt"

log "parity suite (tests/cuda)"
timeout 120 $bin/test_cuda --gtest_brief=1 > "$out/parity.txt" 2>&1
echo "parity exit: $?" | tee -a "$out/summary.txt"
grep -E "PASSED|FAILED|SKIPPED|Failure|element" "$out/parity.txt" | tail -20 | tee -a "$out/summary.txt"

# A config for the device runs: ResNet-20 on the carried Fashion-MNIST.
cfg=$work/r20.yaml
cat > $cfg <<YAML
seed: 0
threads: 8
data: {dataset: fashion_mnist, root: $carry/fmnist, workers: 6}
model: {name: resnet20}
train: {epochs: 1, batch_size: 128, log_every_steps: 1, checkpoint_every_steps: 0}
optim: {name: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5.0e-4, schedule: onecycle, pct_start: 0.15}
YAML

log "CPU vs GPU: the first 8 ResNet-20 steps (constant lr 0.02; TF32 off on the GPU: NVIDIA_TF32_OVERRIDE=0)"
e2e=(--set train.max_steps=8 --set data.limit_train=1024 --set data.limit_test=512 --set optim.schedule=constant
     --set optim.lr=0.02)
# cpu1: the same run on 1 CPU thread, for the size of plain f32 rounding differences after 8 steps
for dev in cpu cpu1 cuda; do
  NVIDIA_TF32_OVERRIDE=0 timeout 120 $bin/cvtrain train $cfg --out $work/e2e_$dev --set device=${dev%1} "${e2e[@]}" \
    $([[ $dev == cpu1 ]] && echo --set threads=1) > $work/e2e_$dev.log 2>&1
  echo "train $dev exit $?" | tee -a "$out/summary.txt"; tail -1 $work/e2e_$dev.log
done
# checkpoints move between devices: the CPU run's step-4 checkpoint resumed once on the CPU and once on
# the GPU (steps 5-8 must agree as above), and the GPU-trained model evaluated on the CPU (cvtrain eval
# runs there). NOTE: a run ended by max_steps finishes its epoch, so the resumed steps start epoch 2.
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
import json, sys
w = sys.argv[1]
rows = {d: [json.loads(l) for l in open(f"{w}/e2e_{d}/steps.jsonl")]
        for d in ("cpu", "cpu1", "cuda", "resumed_cpu", "resumed_cuda")}
def worst(ref, other):
    w_ = 0.0
    for a, b in zip(rows[ref], rows[other]):
        rel = abs(a["loss"] - b["loss"]) / max(1e-6, abs(a["loss"]))
        w_ = max(w_, rel)
        print(f"step {a['step']}: {ref} {a['loss']:.6f} {other} {b['loss']:.6f} rel {rel:.2e}")
    return w_
base = worst("cpu", "cpu1")
tol = max(1e-4, 10 * base)
for ref, other in (("cpu", "cuda"), ("resumed_cpu", "resumed_cuda")):
    w_ = worst(ref, other)
    ok = w_ <= tol and len(rows[other]) == len(rows[ref])
    print(f"e2e {ref} vs {other}: worst relative loss difference {w_:.2e} over {len(rows[other])} steps "
          f"(cpu 8 threads vs 1: {base:.2e}; tolerance {tol:.1e})", "OK" if ok else "MISMATCH")
PY

for bs in 128 512; do
  log "cvtrain bench resnet20 batch $bs on cuda"
  timeout 90 $bin/cvtrain bench $cfg --set device=cuda --set train.batch_size=$bs --set train.eval_batch_size=1000 \
    --steps 50 --json 2>&1 | tail -1 | tee -a "$out/summary.txt"
done
log "time per CUDA kernel, resnet20 batch 512, 10 training steps (CVTRAIN_CUDA_PROFILE=1: synchronized)"
CVTRAIN_CUDA_PROFILE=1 timeout 60 $bin/cvtrain bench $cfg --set device=cuda --set train.batch_size=512 --steps 10 \
  > /dev/null 2> "$out/profile.txt"
head -24 "$out/profile.txt" | tee -a "$out/summary.txt"
[[ $mode == full ]] || { log "smoke done"; exit 0; }

anchor() {  # anchor NAME ARGS...: the PyTorch reference on the same GPU, one run at a time
  local name=$1; shift
  log "PyTorch anchor ($name): torch_fmnist.py resnet20 $*"
  ( cd $work && PYTHONUNBUFFERED=1 timeout 150 python3 $carry/torch_fmnist.py resnet20 "$@" --device cuda --aug \
      --data $carry/fmnist > "$out/torch_$name.txt" 2>&1 )
  tail -2 "$out/torch_$name.txt" | tee -a "$out/summary.txt"
}
anchor bf16 10 --bs 512 --lr 0.2 --amp --channels-last
anchor fp32 10 --bs 512 --lr 0.2
anchor bs128 3 --bs 128 --lr 0.1

# train NAME ARGS...: a ResNet-20 run of recipes/fashion_resnet20_cuda.yaml (with overrides), then the
# test accuracy per epoch against the cumulative training seconds, and when 94% was first reached
train() {
  local name=$1; shift
  log "cvtrain ($name): recipes/fashion_resnet20_cuda.yaml $*"
  timeout 200 $bin/cvtrain train $root/recipes/fashion_resnet20_cuda.yaml --out $work/$name --set data.root=$carry/fmnist \
    --set train.progress=false "$@" > "$out/cvtrain_$name.txt" 2>&1
  tail -2 "$out/cvtrain_$name.txt" | tee -a "$out/summary.txt"
  python3 - $work/$name/metrics.jsonl <<'PY' 2>&1 | tee -a "$out/summary.txt"
import json, sys
t, hit = 0.0, None
for l in open(sys.argv[1]):
    m = json.loads(l); t += m["seconds"]
    if hit is None and (m.get("test_acc") or 0) >= 0.94: hit = (m["epoch"], t)
    last = m
print(f"  {last['epoch']} epochs, {t:.1f} s of training, final test_acc {last['test_acc']:.4f}, "
      f"{last['images_per_s']:.0f} img/s in the last epoch;",
      f"94% first at epoch {hit[0]} after {hit[1]:.1f} s" if hit else "94% not reached")
PY
}
train r20_bs512_e10
train r20_bs512_e20 --set train.epochs=20
train r20_bs256_e15 --set train.epochs=15 --set train.batch_size=256 --set optim.lr=0.15
log "done"
