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
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)


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


class MLP(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 256),
                                 nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, classes))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, classes))

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.sc is None else self.sc(x)))


class ResNet20(nn.Module):
    def __init__(self, classes, n=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(n):
                layers.append(Block(cin, cout, stride if i == 0 else 1)); cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


def main():
    path, images, first, count, pred = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    tol = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-4
    state, meta = load_safetensors(path)
    name = [l.split(":", 1)[1].strip() for l in meta["config"].splitlines() if l.strip().startswith("name:")][0]
    classes = state["fc.weight" if "fc.weight" in state else max((k for k in state if k.endswith(".weight")),
                                                                   key=lambda k: int(k.split(".")[1]))].shape[0]
    model = {"mlp": MLP, "cnn": CNN, "resnet20": ResNet20}[name](classes)
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
