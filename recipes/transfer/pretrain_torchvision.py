#!/usr/bin/env python3
"""The "weights trained elsewhere" of docs/transfer.md's torchvision example: trains torchvision's
ResNet-18 in PyTorch on Fashion-MNIST classes 0-4 (upscaled to 64x64 RGB, ImageNet normalization, as
recipes/transfer/torchvision_resnet18_pretrain.yaml describes the input to cvtrain), reports its
accuracy on the 5000 test images of those classes, and saves the state_dict as safetensors.

Usage: pretrain_torchvision.py --out FILE.safetensors [--images 10000] [--epochs 2] [--threads 2]
                               [--root /usr/share/datasets/fashion-mnist] [--size 64]
Needs PyTorch and torchvision (Debian's python3-torchvision, or a venv from PyPI); not a dependency of
cvtrain, which only reads the file it writes. The safetensors file is written here directly (an
8-byte header length, a JSON header, the raw little-endian tensors), so the `safetensors` module is
not needed either.
"""
import argparse, gzip, json, os, struct, time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def read_idx(root, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(root, name)
        if os.path.exists(path):
            with (gzip.open if name.endswith(".gz") else open)(path, "rb") as f:
                data = f.read()
            ndim = data[3]
            dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
            return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise SystemExit(f"pretrain_torchvision: {stem}(.gz) not found in {root}")


def load(root, stem, classes, limit, size):
    x, y = read_idx(root, f"{stem}-images-idx3-ubyte"), read_idx(root, f"{stem}-labels-idx1-ubyte")
    keep = np.isin(y, classes)
    x, y = x[keep][:limit] if limit else x[keep], y[keep][:limit] if limit else y[keep]
    t = torch.from_numpy(x.copy()).float().div(255).unsqueeze(1)  # (N,1,28,28)
    t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)  # torchvision Resize, upscaling
    t = t.clamp(0, 1).mul(255).round().div(255).expand(-1, 3, -1, -1)  # 8-bit pixels, grey -> RGB
    t = (t - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    remap = {c: i for i, c in enumerate(classes)}
    return t.contiguous(), torch.tensor([remap[int(v)] for v in y])


def save_safetensors(path, state):
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        a = t.detach().cpu().contiguous().numpy()
        dtype = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    classes = [0, 1, 2, 3, 4]
    x, y = load(a.root, "train", classes, a.images, a.size)
    xt, yt = load(a.root, "t10k", classes, 0, a.size)
    model = torchvision.models.resnet18(num_classes=len(classes)).to(memory_format=torch.channels_last)
    steps = a.epochs * ((len(x) + 63) // 64)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
    t0 = time.time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            xb = x[idx]
            if torch.rand(1).item() < 0.5:
                xb = xb.flip(3)
            loss = F.cross_entropy(model(xb.contiguous(memory_format=torch.channels_last)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}/{a.epochs}  loss {loss.item():.4f}  {time.time() - t0:.0f}s", flush=True)
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(xt), 250):
            correct += (model(xt[i:i + 250]).argmax(1) == yt[i:i + 250]).sum().item()
    print(f"PyTorch {torch.__version__}: test_acc {100 * correct / len(xt):.2f}% on the {len(xt)} test images of "
          f"classes 0-4 ({time.time() - t0:.0f}s)")
    save_safetensors(a.out, model.state_dict())
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
