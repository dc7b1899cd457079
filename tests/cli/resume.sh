#!/usr/bin/env bash
# Exact resume, end to end: a run killed with SIGKILL in the middle of an epoch (after its second
# checkpoint, 10 of 16 batches) and continued with `train --resume` ends with the same model.safetensors, byte for
# byte, as a run never interrupted, and the same per-epoch metrics; the newest checkpoint is
# damaged on purpose first, so the resume must detect it (checksum) and fall back to the one before.
# Also: a non-finite loss names the step and the last good checkpoint.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=
args=(train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set data.limit_train=640 --set data.val_fraction=0.2
      --set train.epochs=2 --set train.progress=false --set train.batch_size=32 --set optim.name=adamw
      --set optim.lr=0.002 --set optim.schedule=cosine --set optim.warmup_steps=5 --set train.ema_decay=0.9
      --set train.checkpoint_every_steps=5 --set train.keep_last=2 --set train.log_every_steps=5)

"$bin" "${args[@]}" --out "$tmp/a" > "$tmp/a.log"

"$bin" "${args[@]}" --out "$tmp/b" > "$tmp/b.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  [[ -e "$tmp/b/checkpoints/step-00000010.safetensors" ]] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.01
done
kill -9 $pid 2>/dev/null || { echo "FAIL: the run ended before it could be killed"; exit 1; }
wait $pid 2>/dev/null || true
[[ ! -e "$tmp/b/model.safetensors" ]] || { echo "FAIL: the killed run finished"; exit 1; }
ckpts=("$tmp"/b/checkpoints/step-*.safetensors)
echo "killed with ${#ckpts[@]} checkpoints: ${ckpts[*]##*/}"
[[ ${#ckpts[@]} -ge 1 ]] || { echo "FAIL: no checkpoint"; exit 1; }
if [[ ${#ckpts[@]} -ge 2 ]]; then  # damage the newest: flip a byte in its tensor data
  newest=${ckpts[-1]}
  size=$(stat -c %s "$newest")
  printf '\xff' | dd of="$newest" bs=1 seek=$((size - 3)) conv=notrunc status=none
fi

"$bin" train --resume "$tmp/b" > "$tmp/b2.log" 2>&1 || { cat "$tmp/b2.log"; echo "FAIL: resume"; exit 1; }
grep -q "resuming from" "$tmp/b2.log" || { echo "FAIL: no resume line"; exit 1; }
if [[ ${#ckpts[@]} -ge 2 ]]; then
  grep -q "checksum mismatch" "$tmp/b2.log" || { cat "$tmp/b2.log"; echo "FAIL: damaged checkpoint not detected"; exit 1; }
fi
cmp "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" || { echo "FAIL: resumed model differs"; exit 1; }
cmp "$tmp/a/best.safetensors" "$tmp/b/best.safetensors" || { echo "FAIL: resumed best model differs"; exit 1; }
same_metrics() {
python3 - "$1" "$2" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert len(a) == len(b) == 2, (len(a), len(b))
for ra, rb in zip(a, b):
    for k in ("epoch", "step", "train_loss", "train_acc", "val_acc", "test_loss", "test_acc", "ema_test_acc", "lr"):
        assert ra[k] == rb[k], (k, ra[k], rb[k])
PY
}
same_metrics "$tmp/a/metrics.jsonl" "$tmp/b/metrics.jsonl"
[[ $(head -1 "$tmp/b/metrics.csv") == epoch,step,* ]] || { echo "FAIL: metrics.csv header"; exit 1; }
[[ $(wc -l < "$tmp/b/metrics.csv") -eq 3 ]] || { echo "FAIL: metrics.csv rows"; exit 1; }
cmp <(cut -d, -f1-9 "$tmp/a/metrics.csv") <(cut -d, -f1-9 "$tmp/b/metrics.csv") || { echo "FAIL: metrics.csv differs"; exit 1; }
[[ $(ls "$tmp"/b/checkpoints | wc -l) -eq 2 ]] || { echo "FAIL: keep_last 2"; exit 1; }
if "$bin" train --resume "$tmp/b" > /dev/null 2>&1; then echo "FAIL: resumed a finished run"; exit 1; fi

# Paused after epoch 1 (--until-epoch: evaluated, checkpointed, the schedule the whole run's) and
# resumed: the same run as never paused, byte for byte.
"$bin" "${args[@]}" --out "$tmp/p" --until-epoch 1 > "$tmp/p.log" || { cat "$tmp/p.log"; echo "FAIL: pause"; exit 1; }
grep -q "paused after epoch 1 .*continue with: cvtrain train --resume $tmp/p" "$tmp/p.log" || { cat "$tmp/p.log"; echo "FAIL: pause line"; exit 1; }
[[ ! -e "$tmp/p/model.safetensors" && $(wc -l < "$tmp/p/metrics.jsonl") -eq 1 ]] || { echo "FAIL: a paused run finished"; exit 1; }
if "$bin" train --resume "$tmp/p" --until-epoch 0 > /dev/null 2>&1; then echo "FAIL: --until-epoch 0 accepted"; exit 1; fi
# an override that the resumed run would not read is refused, naming it, and the run is left as it was
if "$bin" train --resume "$tmp/p" --set optim.pct_start=0.3 > "$tmp/p1.log" 2>&1; then echo "FAIL: an unread --set resumed"; exit 1; else rc=$?; fi
[[ $rc -eq 2 ]] && grep -q -- "--set optim.pct_start: no effect with optim.schedule cosine" "$tmp/p1.log" ||
  { cat "$tmp/p1.log"; echo "FAIL: an unread --set on resume: exit $rc"; exit 1; }
"$bin" train --resume "$tmp/p" > "$tmp/p2.log" || { cat "$tmp/p2.log"; echo "FAIL: resume a paused run"; exit 1; }
cmp "$tmp/a/model.safetensors" "$tmp/p/model.safetensors" || { echo "FAIL: a paused and resumed run differs"; exit 1; }
cmp "$tmp/a/best.safetensors" "$tmp/p/best.safetensors" || { echo "FAIL: a paused and resumed best model differs"; exit 1; }
same_metrics "$tmp/a/metrics.jsonl" "$tmp/p/metrics.jsonl"

# A diverging run stops with exit 2, naming the step and the last good checkpoint.
if "$bin" train "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --set data.limit_train=256 --set train.progress=false \
    --set optim.schedule=constant --set optim.lr=1e30 --set train.checkpoint_every_steps=1 --out "$tmp/nan" \
    > "$tmp/nan.log" 2>&1; then echo "FAIL: a diverging run succeeded"; exit 1; else rc=$?; fi
[[ $rc -eq 2 ]] || { cat "$tmp/nan.log"; echo "FAIL: exit $rc"; exit 1; }
grep -Eq "step [0-9]+ .*the loss is (NaN|infinite|diverging).*Last good checkpoint: .*step-" "$tmp/nan.log" ||
  { cat "$tmp/nan.log"; echo "FAIL: message"; exit 1; }
echo "resume: 1 passed, 0 failed"
