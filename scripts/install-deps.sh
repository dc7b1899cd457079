#!/usr/bin/env bash
# Installs the Debian 12 packages cvtrain needs, from a bare system that has only `make`. Idempotent and
# quick when everything is present (a dpkg check first; apt-get only for what is missing).
#
#   scripts/install-deps.sh            the library, the program and the demo's data (`make demo`)
#   scripts/install-deps.sh --tests    and what the test suite and benchmarks use (`make test`)
#   scripts/install-deps.sh --ci       and what .ci/run adds (sanitizer build, fuzzing, the fresh-root check)
#
# Installs with --no-install-recommends, so every package the build or a test uses is named here, even
# when another package only recommends it. scripts/fresh-machine-check.sh proves the list on a bare root.
set -euo pipefail

program=(
  build-essential cmake ninja-build pkg-config make
  libdnnl-dev ocl-icd-opencl-dev   # oneDNN: convolutions and matrix products; Debian's dnnl CMake package
                                   # is built with the OpenCL runtime and needs OpenCL's headers and library
  libyaml-cpp-dev        # configs
  libcli11-dev           # command line
  nlohmann-json3-dev     # safetensors headers, metrics lines
  zlib1g-dev             # gzip-compressed IDX files
  libcairo2-dev fonts-dejavu-core   # PNG charts (viz/): histograms of cvtrain diagnose, training curves
  libpng-dev libjpeg62-turbo-dev   # data/: image-folder datasets (PNG, JPEG), augmentation previews
  libopenmpi-dev openmpi-bin   # dist/: data-parallel training under mpirun (CMake's CVTRAIN_MPI=AUTO builds without it)
  libonnx-dev libprotobuf-dev protobuf-compiler   # interop/: cvtrain export --format onnx (ONNX's protobuf classes)
  dataset-fashion-mnist  # the demo's data, under /usr/share/datasets/fashion-mnist
)
tests=(
  libgtest-dev libgmock-dev libbenchmark-dev   # unit tests and micro-benchmarks
  python3 python3-onnx libopencv-dev           # the ONNX checker and OpenCV's dnn module read the exported graphs
  python3-pil                                  # the image-folder test writes photos of mixed sizes and modes (PNG, JPEG)
  procps                                       # the command-line tests watch and signal training processes
)
ci=(
  clang-14 libclang-rt-14-dev   # the sanitizer build and the libFuzzer targets (scripts/fuzz.sh, docs/reliability.md)
  debootstrap                   # scripts/fresh-machine-check.sh
  iproute2                      # scripts/multihost-check.sh: hosts as network namespaces (ip netns)
)

packages=("${program[@]}")
case "${1:-}" in
  "") ;;
  --tests) packages+=("${tests[@]}") ;;
  --ci) packages+=("${tests[@]}" "${ci[@]}") ;;
  *) echo "install-deps: unknown option '$1' (use --tests or --ci)" >&2; exit 2 ;;
esac
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
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: installing packages needs root; run as root or install sudo" >&2
    exit 2
  fi
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
