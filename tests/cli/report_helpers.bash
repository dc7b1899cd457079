# Sourced by tests/cli/report_*.sh (not a test itself: CTest registers *.sh only). Short real runs
# made to show one curve-reading rule, or made not to, and the check that `cvtrain report` prints
# that rule's finding (exit 0, "[severity] rule:" on stdout, the rule's card in report.html) or not.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
quiet=(--set threads=1 --set train.progress=false --set train.tensorboard=false)
# The synthetic set (1024 train, 256 test images, 4 classes): a CNN at lr 0.02 learns it in one
# epoch; a logged row every 2 steps gives 32 rows over the 2 epochs.
synthetic=("$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set train.epochs=2 --set train.batch_size=32
           --set optim.schedule=constant --set train.log_every_steps=2 "${quiet[@]}")
# 2000 Fashion-MNIST training images, 500 test images; a two-layer perceptron 4 units wide.
tiny_fashion=("$src/recipes/fashion_mlp.yaml" --set data.limit_train=2000 --set data.limit_test=500
              --set model.name=deep_mlp --set model.depth=2 --set model.width=4 --set train.batch_size=32 "${quiet[@]}")

# train NAME ARGS...: a run into $tmp/NAME (a run stopped by its loss is kept: its folder is reported)
train() {
  local name=$1; shift
  "$bin" train "$@" --out "$tmp/$name" > "$tmp/$name.train.log" 2>&1 || true
}

# report NAME: `cvtrain report` of the run, which must exit 0 and write report.html
report() {
  local rc=0
  "$bin" report "$tmp/$1" > "$tmp/$1.report" 2> "$tmp/$1.report.err" || rc=$?
  if [[ $rc -ne 0 || ! -s "$tmp/$1/report.html" ]]; then
    echo "FAIL: report $1 exited $rc"; cat "$tmp/$1.report.err" "$tmp/$1.train.log"; fails=$((fails + 1)); return 1
  fi
}

# expect NAME RULE yes|no
expect() {
  local name=$1 rule=$2 want=$3 got=no
  report "$name" || return 0
  grep -q "^\[[a-z]*\] $rule: " "$tmp/$name.report" && got=yes
  if [[ $got == yes ]] && ! grep -q "<code>$rule</code></div>" "$tmp/$name/report.html"; then got="stdout-only"; fi
  if [[ $got != "$want" ]]; then
    echo "FAIL: $name: finding $rule: expected $want, got $got"; cat "$tmp/$name.report"; fails=$((fails + 1))
  else
    echo "ok: $name: $rule $want"
  fi
}

finish() {
  echo "$1: $((fails == 0 ? 1 : 0)) passed, $((fails == 0 ? 0 : 1)) failed"
  [[ $fails -eq 0 ]]
}
