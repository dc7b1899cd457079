#!/usr/bin/env bash
# cvtrain tune end to end on small budgets: the seven steps in order with their evidence (tune.json,
# tune.md), every choice on a validation split, a report page, and a recipe.yaml that retrains the
# chosen run to the same validation and test accuracy; on the synthetic set and on a user's image
# folder of PNGs; a bad key stops it before anything runs.
set -euo pipefail
bin=$1; src=$2
command -v python3 > /dev/null || exit 77
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
small=(--set train.epochs=2 --set train.tensorboard=false --set train.plots=false --set train.progress=false
       --set threads=1 --trials 4 --jobs 2)

"$bin" tune "$src/recipes/fashion_mlp.yaml" --set data.dataset=synthetic "${small[@]}" --out "$tmp/t" > "$tmp/t.log" \
  || { cat "$tmp/t.log"; fail "tune on synthetic"; }
python3 - "$tmp/t" <<'PY'
import json, sys
out = sys.argv[1]
steps = json.load(open(out + "/tune.json"))
assert [s["step"] for s in steps] == ["initial loss", "overfit a small sample", "learning-rate range test", "coarse search",
                                      "fine search, trained longer", "read the curves", "recipe"], steps
assert steps[0]["ok"] and abs(steps[0]["expected"] - 1.3862943611) < 1e-6, steps[0]
assert steps[1]["ok"] and steps[1]["images"] == 64, steps[1]
assert steps[2]["lr_range"][0] < steps[2]["lr_range"][1], steps[2]
assert 0 < steps[4]["val_acc"] <= 1 and 0 < steps[4]["test_acc"] <= 1, steps[4]
md = open(out + "/tune.md").read()
assert md.count("\n## ") == 7, md
PY
grep -q "^  val_fraction: 0.1$" "$tmp/t/recipe.yaml" || fail "the recipe does not keep the validation split it was chosen on"
best=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[4]['dir'])" "$tmp/t/tune.json")
[[ -s "$best/report.html" ]] || fail "no report page for the chosen run"
"$bin" train "$tmp/t/recipe.yaml" --out "$tmp/again" > "$tmp/again.log" || fail "retraining the recipe"
python3 - "$best/metrics.jsonl" "$tmp/again/metrics.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p)][-1] for p in sys.argv[1:3])
assert (a["val_acc"], a["test_acc"]) == (b["val_acc"], b["test_acc"]), (a, b)
PY

# a user's image folder: two classes of noisy 12x12 PNGs
python3 - "$tmp/folder" <<'PY'
import os, random, struct, sys, zlib
root = sys.argv[1]
rng = random.Random(1)
def png(path, pixels, w, h):
    raw = b"".join(b"\x00" + bytes(pixels[y * w:(y + 1) * w]) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for split, n in (("train", 80), ("test", 20)):
    for cls, base in (("dark", 90), ("light", 150)):
        d = os.path.join(root, split, cls)
        os.makedirs(d)
        for i in range(n):
            png(os.path.join(d, "%03d.png" % i), [max(0, min(255, base + rng.randint(-70, 70))) for _ in range(144)], 12, 12)
PY
"$bin" tune "$src/recipes/fashion_mlp.yaml" --set data.dataset=image_folder --set data.root="$tmp/folder" \
  --set train.batch_size=16 "${small[@]}" --out "$tmp/f" > "$tmp/f.log" || { cat "$tmp/f.log"; fail "tune on an image folder"; }
grep -q "ln(2) = 0.693" "$tmp/f/tune.md" || fail "the image folder's initial loss is not read against ln(2)"
[[ -s "$tmp/f/recipe.yaml" ]] || fail "no recipe for the image folder"

if "$bin" tune "$src/recipes/fashion_mlp.yaml" --set optim.lrr=1 --out "$tmp/bad" > "$tmp/bad.log" 2>&1; then fail "a bad key ran"; fi
grep -q "unknown key 'optim.lrr'" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "message"; }
[[ ! -e "$tmp/bad" ]] || fail "a refused tune wrote its folder"
echo "tune: ok"
