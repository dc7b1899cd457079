#!/usr/bin/env bash
# Installs the built cvtrain into a temporary prefix, builds examples/ against it with
# find_package(cvtrain), and runs the example (which fails unless its loss goes down).
set -euo pipefail
bin=$1; src=$2
build_dir=$(dirname "$bin")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" > "$tmp/install.log"
cmake -S "$src/examples" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log"
cmake --build "$tmp/build" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
"$tmp/build/tiny_cnn"
