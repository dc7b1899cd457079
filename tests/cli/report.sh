#!/usr/bin/env bash
# `cvtrain report` end to end: the page stands alone (no scripts, nothing fetched, images as data:
# URIs) and has its sections (findings, per-step and per-epoch charts, confusion matrix, mistakes,
# diagnostics, config); metrics.jsonl with val_* columns is read as a validation split and without
# them the test split is named as standing in; bad input exits 2 with one line naming the file.
source "$(dirname "$0")/report_helpers.bash"
check() {  # check WHAT COND...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
count() { grep -o "$1" "$2" | wc -l; }

train syn "${synthetic[@]}" --set optim.lr=0.02 --set train.diagnostics_every=16
"$bin" report "$tmp/syn" --out "$tmp/page.html" > "$tmp/syn.out"
page=$tmp/page.html
check "stdout names the page" grep -q "^report: $tmp/page.html$" "$tmp/syn.out"
check "no script" test "$(count '<script' "$page")" -eq 0
check "nothing fetched (only the SVG namespace is a URL)" test "$(grep -o 'https\?://[^"]*' "$page" | grep -vc '^http://www.w3.org/2000/svg$')" -eq 0
check "every src is a data: URI" test "$(grep -o 'src="[^"]*' "$page" | grep -vc '^src="data:image/png;base64,')" -eq 0
check "7 charts (loss, lr, grad norm per step; loss, accuracy, lr per epoch; activation std per layer)" test "$(count '<svg' "$page")" -eq 7
check "markers carry their values" grep -q "<title>training loss: 2, " "$page"
check "the test split stands in" grep -q "test (no validation split)" "$page"
check "confusion matrix with the class names" grep -q "<th>hstripes</th>" "$page"
check "no mistakes on the synthetic set" grep -q "No test image was misclassified" "$page"
check "diagnostics section" grep -q "<h2>Per-layer diagnostics</h2>" "$page"
check "config section" grep -q "dataset: synthetic" "$page"

# mistakes as images, as many as --mistakes asks
train tiny "${tiny_fashion[@]}" --set train.epochs=1 --set optim.lr=0.01
"$bin" report "$tmp/tiny" --mistakes 5 > /dev/null
check "5 mistakes as data: URI PNGs" test "$(count 'data:image/png;base64,' "$tmp/tiny/report.html")" -eq 5
check "a mistake's caption" grep -q "true: <b>[^<]*</b><br>predicted: <b>" "$tmp/tiny/report.html"

# the same run's metrics with a validation split's columns (as a data.val_fraction run logs them)
cp -r "$tmp/syn" "$tmp/val"
python3 - "$tmp/val/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    r['val_loss'], r['val_acc'] = r['test_loss'], r['test_acc'] - 0.5  # distinguishable from test_acc
open(sys.argv[1], 'w').write(''.join(json.dumps(r) + '\n' for r in rows))
PY
"$bin" report "$tmp/val" > "$tmp/val.out"
check "val_* columns: the validation split" grep -q "Evaluated on the <b>validation</b> split" "$tmp/val/report.html"
check "val_* columns: no test stand-in label" test "$(count 'no validation split' "$tmp/val/report.html")" -eq 0
check "val_* columns: the findings read the validation accuracy" grep -q "validation accuracy 50.0%" "$tmp/val.out"

# bad input: exit 2, one line naming the file
bad() {  # bad WHAT PATTERN ARGS...
  local what=$1 pattern=$2; shift 2
  local rc=0
  "$bin" report "$@" > /dev/null 2> "$tmp/err" || rc=$?
  if [[ $rc -eq 2 && $(wc -l < "$tmp/err") -eq 1 ]] && grep -q "$pattern" "$tmp/err"; then echo "ok: $what"
  else echo "FAIL: $what (rc $rc)"; cat "$tmp/err"; fails=$((fails + 1)); fi
}
bad "missing folder" "$tmp/nope: no such run folder" "$tmp/nope"
bad "a file, not a folder" "not a folder" "$tmp/page.html"
mkdir "$tmp/empty"
bad "no metrics.jsonl" "$tmp/empty/metrics.jsonl: no such file" "$tmp/empty"
cp -r "$tmp/syn" "$tmp/corrupt"
{ echo '{"epoch": 1, "step": oops}'; cat "$tmp/syn/metrics.jsonl"; } > "$tmp/corrupt/metrics.jsonl"
bad "corrupt metrics line" "$tmp/corrupt/metrics.jsonl:1: not a valid row" "$tmp/corrupt"
cp "$tmp/syn/metrics.jsonl" "$tmp/corrupt/metrics.jsonl"
{ echo '{"step": 2, "loss": "high", "lr": 0.1}'; cat "$tmp/syn/steps.jsonl"; } > "$tmp/corrupt/steps.jsonl"
bad "corrupt steps line" "$tmp/corrupt/steps.jsonl:1: not a valid row ('loss' is not a number)" "$tmp/corrupt"
bad "--out in a missing folder" "$tmp/no/such/dir/r.html" "$tmp/syn" --out "$tmp/no/such/dir/r.html"
check "listed in --help" bash -c "'$bin' --help | grep -q '^  report'"
finish report
