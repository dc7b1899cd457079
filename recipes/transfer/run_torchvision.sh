#!/usr/bin/env bash
# The worked example of docs/transfer.md, "Weights from PyTorch": a torchvision ResNet-18 trained in
# PyTorch on Fashion-MNIST classes 0-4 (64x64 RGB), imported and evaluated by cvtrain, then
# fine-tuned on a folder of 500 mixed-size RGB photos of classes 5-9 four ways; prints the table.
# Usage (from the repository root): bash recipes/transfer/run_torchvision.sh [build/cvtrain] [runs/tv_transfer]
# The pretraining needs PyTorch and torchvision (Debian: python3-torchvision; PYTHON=... for another).
set -euo pipefail
bin=${1:-build/cvtrain}; out=${2:-runs/tv_transfer}; py=${PYTHON:-python3}
mkdir -p "$out"
[[ -d "$out/folder/train" ]] || python3 recipes/transfer/fmnist_folder.py --out "$out/folder"
if [[ ! -f "$out/resnet18_torch.safetensors" ]]; then
  "$py" recipes/transfer/pretrain_torchvision.py --out "$out/resnet18_torch.safetensors" --images 8000 --epochs 2 |
    tee "$out/pretrain.log"
fi
"$bin" import --config recipes/transfer/torchvision_resnet18_pretrain.yaml \
  --weights "$out/resnet18_torch.safetensors" --out "$out/pretrained.safetensors"
"$bin" eval "$out/pretrained.safetensors"   # the 5000 test images PyTorch measured, prepared by cvtrain

recipe=recipes/transfer/torchvision_resnet18.yaml
common=(--set train.progress=false --set data.root="$out/folder" --overwrite)
declare -A how=(
  [scratch]="--set model.init_from= --set model.reset_head=0 --set model.freeze=[] --set model.freeze_epochs=0 --set optim.lr_mult={} --set optim.lr=0.05"
  [linear_probe]="--set model.freeze_epochs=0 --set optim.lr_mult={}"
  [finetune_all]="--set model.freeze=[] --set model.freeze_epochs=0"
  [two_stage]=""
)
for r in scratch linear_probe finetune_all two_stage; do
  # shellcheck disable=SC2086
  "$bin" train "$recipe" "${common[@]}" --set model.init_from="$out/resnet18_torch.safetensors" ${how[$r]} \
    --out "$out/$r" > "$out/$r.log"
  tail -1 "$out/$r.log"
done
"$bin" predict "$out/two_stage" "$out"/folder/test/7_Sneaker/0000[0-2].png
"$bin" export "$out/two_stage" --format onnx --out "$out/two_stage.onnx"
printf '| run | val accuracy (best) | test accuracy | training seconds |\n|---|---|---|---|\n'
for r in scratch linear_probe finetune_all two_stage; do
  python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
last = [r for r in rows if r.get("test_acc") is not None][-1]
best = max(r["val_acc"] for r in rows if r.get("val_acc") is not None)
print("| %s | %.2f%% | %.2f%% | %.0f |" % (sys.argv[2], 100 * best, 100 * last["test_acc"], sum(r["seconds"] for r in rows)))
' "$out/$r" "$r"
done
