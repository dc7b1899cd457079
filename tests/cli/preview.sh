#!/usr/bin/env bash
# `cvtrain preview` writes a PNG grid of the right size (rows x (1 + views) cells of the scaled
# image plus 2-pixel gaps), the same file for the same seed, a different one for another seed;
# `cvtrain augmentations` lists the registry.
set -euo pipefail
bin=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=("$src/recipes/fashion_cnn_aug.yaml" --set data.dataset=synthetic --images 3 --views 4 --scale 2)
"$bin" preview "${common[@]}" --out "$tmp/a.png" > /dev/null
"$bin" preview "${common[@]}" --out "$tmp/b.png" > /dev/null
"$bin" preview "${common[@]}" --set seed=5 --out "$tmp/c.png" > /dev/null
python3 - "$tmp/a.png" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", d[16:24])
# synthetic images are 28x28; cells 56x56; 5 columns, 3 rows, 2-pixel gaps
assert (w, h) == (5 * 58 + 2, 3 * 58 + 2), (w, h)
PY
cmp -s "$tmp/a.png" "$tmp/b.png" || { echo "FAIL: same seed, different preview"; exit 1; }
if cmp -s "$tmp/a.png" "$tmp/c.png"; then echo "FAIL: another seed gave the same preview"; exit 1; fi
set +e; "$bin" preview "$src/recipes/fashion_cnn.yaml" --set data.dataset=synthetic --out "$tmp/no/such/dir.png" 2> "$tmp/err"; rc=$?; set -e
[[ $rc -eq 2 ]] || { echo "FAIL: unwritable output gave exit $rc"; cat "$tmp/err"; exit 1; }
n=$("$bin" augmentations | grep -c '^[a-z]')
[[ $n -eq 16 ]] || { echo "FAIL: cvtrain augmentations lists $n transforms, not 16"; exit 1; }
echo "preview: 5 passed, 0 failed"
