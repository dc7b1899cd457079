#!/usr/bin/env bash
# Installs the Debian packages cvtrain needs to build, test and run its demo. Idempotent and quick
# when everything is present (dpkg check first; apt-get only for what is missing).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev            # oneDNN: convolution and matrix products (PyTorch's CPU path)
  libyaml-cpp-dev        # configs
  libcli11-dev           # command line
  nlohmann-json3-dev     # safetensors headers, metrics lines
  zlib1g-dev             # gzip-compressed IDX files
  libcairo2-dev fonts-dejavu-core   # PNG charts (viz/): histograms of cvtrain diagnose, training curves
  libpng-dev libjpeg62-turbo-dev   # data/: image-folder datasets (PNG, JPEG), augmentation previews
  libgtest-dev libgmock-dev libbenchmark-dev   # tests and micro-benchmarks
  clang-14 libclang-rt-14-dev   # CI's sanitizer build and libFuzzer targets (scripts/fuzz.sh, docs/reliability.md)
  libopenmpi-dev openmpi-bin   # dist/: data-parallel training under mpirun (optional: CMake's CVTRAIN_MPI=AUTO builds without it)
  dataset-fashion-mnist  # the demo's data, under /usr/share/datasets/fashion-mnist
  libonnx-dev libprotobuf-dev protobuf-compiler   # interop/: cvtrain export --format onnx (ONNX's protobuf classes)
  python3-onnx libopencv-dev   # tests only: the ONNX checker and OpenCV's dnn module read the exported graphs
)
if [[ "${CVTRAIN_WITH_TORCH:-0}" == 1 ]]; then
  packages+=(python3-torch python3-numpy python3-torchvision)  # side-by-side benchmarks and fixture recording only
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
