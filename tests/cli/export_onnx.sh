#!/usr/bin/env bash
# ONNX export of every zoo model (tests/interop/tools/export_zoo_onnx: small inputs, random weights,
# randomized batch-norm statistics, every activation, folded batch norm, preprocess modes), then
# three independent readers: the ONNX checker (python3-onnx), OpenCV's dnn module (the test-only
# program onnx_opencv_check) and PyTorch running the graph node by node; each must reproduce
# cvtrain's logits within 1e-4 (relative to the largest logit, at least 1). A reader that is not
# installed is skipped with a message; with none of them the test is skipped (77).
set -uo pipefail
bin=$1; src=$2
tools=$(dirname "$bin")/tests
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
[[ -x "$tools/export_zoo_onnx" ]] || { echo "SKIP: built without ONNX (no libonnx-dev when configured)"; exit 77; }
"$tools/export_zoo_onnx" "$tmp" || { echo "FAIL: export_zoo_onnx"; exit 1; }
ran=0; fails=0
check() {  # check NAME COMMAND...: 77 from the command is a skip
  local out rc; out=$("${@:2}" 2>&1); rc=$?
  if [[ $rc -eq 77 ]]; then echo "SKIP $1: $out"; return; fi
  ran=$((ran+1))
  if [[ $rc -ne 0 ]]; then fails=$((fails+1)); echo "FAIL $1:"; grep -v '^ok' <<<"$out"; else tail -1 <<<"$out"; fi
}
if [[ -x /usr/bin/python3 ]]; then
  check "onnx checker" /usr/bin/python3 "$src/tests/interop/scripts/onnx_check.py" "$tmp"
  check "pytorch" /usr/bin/python3 "$src/tests/interop/scripts/onnx_torch_run.py" "$tmp"
else
  echo "SKIP onnx checker, pytorch: no /usr/bin/python3"
fi
if [[ -x "$tools/onnx_opencv_check" ]]; then
  check "opencv" "$tools/onnx_opencv_check" --zoo "$tmp"
else
  echo "SKIP opencv: onnx_opencv_check not built (OpenCV not found by CMake)"
fi
[[ $ran -eq 0 ]] && exit 77
exit $((fails > 0))
