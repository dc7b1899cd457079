#!/usr/bin/env bash
# Installs the built cvtrain into a temporary prefix, builds examples/ against it with
# find_package(cvtrain), and runs them: tiny_cnn (fails unless its loss goes down), train_recipe (a
# recipe with overrides trained through the library; fails unless it beats chance, and refuses a knob
# the run would not use), evaluate_run (cvtrain::interop reads the program's model file; the library
# must report the accuracy the program reported).
set -euo pipefail
bin=$1; src=$2
build_dir=$(dirname "$bin")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" > "$tmp/install.log"
cmake -S "$src/examples" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log"
cmake --build "$tmp/build" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
"$tmp/build/tiny_cnn"
"$tmp/build/train_recipe" "$src/recipes/fashion_cnn.yaml" data.dataset=synthetic data.limit_train=256 \
  data.limit_test=64 train.epochs=2 train.batch_size=32 threads=1
set +e; "$tmp/build/train_recipe" "$src/recipes/fashion_cnn.yaml" optim.alpha=0.5 2> "$tmp/err"; rc=$?; set -e
[[ $rc -eq 2 ]] && grep -q "optim.alpha: no effect with optim.name sgd" "$tmp/err" ||
  { echo "FAIL: train_recipe accepted optim.alpha with sgd (exit $rc): $(cat "$tmp/err")"; exit 1; }
"$bin" train "$src/recipes/fashion_mlp.yaml" --set data.dataset=synthetic --set data.limit_train=256 \
  --set train.epochs=1 --set train.progress=false --set threads=1 --out "$tmp/run" > "$tmp/train.log"
want=$(grep -o 'test accuracy [0-9.]*%' "$tmp/train.log")
got=$("$tmp/build/evaluate_run" "$tmp/run" | grep -o 'test accuracy [0-9.]*%')
[[ "$got" == "$want" ]] || { echo "FAIL: evaluate_run says '$got', the program said '$want'"; exit 1; }
echo "install_example: 4 passed, 0 failed"
