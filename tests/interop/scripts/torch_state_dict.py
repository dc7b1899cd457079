"""Loads a model file written by `cvtrain export --format safetensors` into the PyTorch classes of
the anchor architectures (MLP, CNN, ResNet20 as in docs/interop.md) with strict=True, runs them on
images of an IDX file normalized with the file's metadata, and compares the logits with those of
`cvtrain predict --json`. Exits 77 (skip) without torch.
    /usr/bin/python3 torch_state_dict.py MODEL.safetensors IMAGES.idx.gz FIRST COUNT PREDICT.json [TOL]
"""
import gzip, json, struct, sys

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)
from torch_zoo import build_model  # this folder: the PyTorch mirrors of cvtrain's models


def load_safetensors(path):  # the format in ten lines: no safetensors package needed
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    kinds = {"F32": np.float32, "I64": np.int64}
    state = {k: torch.from_numpy(np.frombuffer(raw, kinds[v["dtype"]], offset=8 + n + v["data_offsets"][0],
                                               count=int(np.prod(v["shape"], dtype=np.int64))).reshape(v["shape"]).copy())
             for k, v in header.items()}
    return state, meta


def main():
    path, images, first, count, pred = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    tol = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-4
    state, meta = load_safetensors(path)
    name = [l.split(":", 1)[1].strip() for l in meta["config"].splitlines() if l.strip().startswith("name:")][0]
    classes = state["fc.weight" if "fc.weight" in state else max((k for k in state if k.endswith(".weight")),
                                                                   key=lambda k: int(k.split(".")[1]))].shape[0]
    model = build_model(name, classes=classes)
    model.load_state_dict(state, strict=True)
    model.eval()
    raw = gzip.open(images).read() if images.endswith(".gz") else open(images, "rb").read()
    nd = raw[3]
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    x = np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)[first:first + count]
    norm = json.loads(meta["preprocess"])
    x = (torch.from_numpy(x.astype(np.float32) / 255.0)[:, None] - norm["mean"][0]) / norm["std"][0]
    with torch.no_grad():
        y = model(x).numpy()
    ref = np.array([p["logits"] for p in json.load(open(pred))["predictions"]], dtype=np.float32)
    worst = float(np.abs(y - ref).max())
    print(f"{name}: PyTorch {torch.__version__} with the exported state_dict (strict) vs cvtrain predict: "
          f"max |logit difference| {worst:.3g} over {count} images")
    sys.exit(0 if worst <= tol else 1)


if __name__ == "__main__":
    main()
