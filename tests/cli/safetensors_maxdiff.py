"""max |a - b| over every f32 tensor of two safetensors files, for the CLI tests (stdlib only).

usage: safetensors_maxdiff.py A B TOL [--need-bn-stats]
Exits 0 when the largest difference is below TOL (TOL 0: the same bits), 1 otherwise; with
--need-bn-stats it also insists that the files hold batch-norm running statistics.
"""
import array
import json
import struct
import sys


def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        s, e = v["data_offsets"]
        a = array.array("f")
        a.frombytes(data[s:e])
        out[k] = a
    return out


a, b = load(sys.argv[1]), load(sys.argv[2])
tol = float(sys.argv[3])
assert a.keys() == b.keys(), (a.keys(), b.keys())
if "--need-bn-stats" in sys.argv[4:]:
    assert any("running_var" in k for k in a), "no batch-norm statistics in the model file"
worst = max(max(abs(x - y) for x, y in zip(a[k], b[k])) for k in a)
print(f"max |difference| {worst:.3g} over {len(a)} tensors")
sys.exit(0 if (worst == 0 if tol == 0 else worst < tol) else 1)
