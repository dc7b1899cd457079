#!/usr/bin/env bash
# device: cuda where no GPU can run it (a CPU build, or a CUDA build on a machine without a GPU):
# train and bench exit 2 with one line naming the device key; a bad device name is caught by the
# config check. On a machine with a GPU (and a CUDA build) the run goes ahead: SKIP (77) then.
set -uo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
synthetic=(--set data.dataset=synthetic --set train.epochs=1 --set train.progress=false)
fails=0
check() {  # check CODE PATTERN ARGS...
  local code=$1 pattern=$2; shift 2
  local err rc
  err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [[ $rc -ne $code ]] || ! grep -qE -- "$pattern" <<<"$err"; then
    echo "FAIL: cvtrain $* -> exit $rc, stderr: $err (wanted exit $code and /$pattern/)"; fails=$((fails+1))
  fi
}
check 2 "device: unknown device 'gpu' \(known: cpu, cuda\)" train "$src/recipes/fashion_cnn.yaml" "${synthetic[@]}" --set device=gpu --out "$tmp/o0"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "a GPU is present: the failure cases do not apply"; [[ $fails -eq 0 ]] || exit 1; exit 77
fi
check 2 "device: cuda: (this cvtrain was built without CUDA|no CUDA GPU is visible)" \
  train "$src/recipes/fashion_cnn.yaml" "${synthetic[@]}" --set device=cuda --out "$tmp/o1"
check 2 "device: cuda: " bench "$src/recipes/fashion_cnn.yaml" --set device=cuda --steps 1
[[ ! -e "$tmp/o1/model.safetensors" ]] || { echo "FAIL: a failed cuda run left a model file"; fails=$((fails+1)); }
[[ $fails -eq 0 ]] && echo "cuda_device: ok"
exit $((fails > 0))
