#!/usr/bin/python3
"""torchvision <-> cvtrain for resnet18/34/50, both ways, on a small image folder (3 classes, 64x64 RGB
PNGs written here):
  torchvision -> cvtrain: a torchvision model with random weights and batch-norm statistics, its
    state_dict saved as safetensors (written by hand: no safetensors package needed), `cvtrain import`
    with a recipe, `cvtrain predict --json` on the test images against torchvision's logits on the same
    pixels normalized with the mean/std the model file carries;
  cvtrain -> torchvision: `cvtrain train` one epoch (cvtrain's own weights and statistics), its
    model.safetensors loaded into torchvision with load_state_dict(strict=True), logits against
    `cvtrain predict --json` of the run.
Prints the largest logit difference (absolute, and relative to the largest logit) per model and way;
fails above TOL (relative, default 1e-4). Exits 77 (skip) when torchvision cannot be imported.
    /usr/bin/python3 torchvision_roundtrip.py CVTRAIN [--models resnet18 resnet34 resnet50] [--tol 1e-4]
"""
import argparse, json, os, struct, subprocess, sys, tempfile, zlib

try:
    import numpy as np
    import torch
    import torchvision
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_state_dict import load_safetensors  # noqa: E402  (the sibling script's reader)

SIZE, CLASSES, PER_CLASS = 64, ["ant", "bee", "cat"], 2


def write_png(path, rgb):  # rgb: (H, W, 3) uint8; PNG by hand (signature, IHDR, one IDAT, IEND)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_folder(root, rng):
    files = {"train": [], "test": []}
    for split in files:
        for c in CLASSES:
            os.makedirs(os.path.join(root, split, c))
            for i in range(PER_CLASS):
                p = os.path.join(root, split, c, f"{i}.png")
                img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
                write_png(p, img)
                files[split].append((p, img))
    return files


def save_safetensors(path, state):  # 8-byte LE header length, JSON header, raw little-endian data
    header, chunks, offset = {}, [], 0
    kinds = {torch.float32: "F32", torch.int64: "I64"}
    for name, t in state.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": kinds[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def torch_logits(model, images, mean, std):
    x = torch.tensor(np.stack([img.transpose(2, 0, 1) for _, img in images]), dtype=torch.float32) / 255.0
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    with torch.no_grad():
        return model.eval()(x).double()


def run(cmd):  # the command's stdout; its stderr in the error when it fails
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def cvtrain_logits(exe, model_file, images):
    out = run([exe, "predict", model_file] + [p for p, _ in images] + ["--json", "--topk", "1"])
    return torch.tensor([p["logits"] for p in json.loads(out)["predictions"]], dtype=torch.float64)


def diff(a, b):
    d = float((a - b).abs().max())
    return d, d / max(float(b.abs().max()), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cvtrain")
    ap.add_argument("--models", nargs="+", default=["resnet18", "resnet34", "resnet50"])
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        files = make_folder(os.path.join(tmp, "images"), np.random.default_rng(0))
        for name in a.models:
            recipe = os.path.join(tmp, f"{name}.yaml")
            with open(recipe, "w") as f:
                f.write(f"seed: 0\nthreads: 2\ndata:\n  dataset: image_folder\n  root: {tmp}/images\nmodel:\n  name: {name}\n"
                        "train:\n  epochs: 1\n  batch_size: 3\n  progress: false\n  plots: false\n  tensorboard: false\n"
                        "optim:\n  lr: 0.01\n")
            # torchvision -> cvtrain
            tv = getattr(torchvision.models, name)(num_classes=len(CLASSES))
            for m in tv.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    torch.nn.init.uniform_(m.weight, 0.5, 1.5)
                    torch.nn.init.uniform_(m.bias, -0.2, 0.2)
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
            sd_path, model_path = os.path.join(tmp, f"{name}.sd.safetensors"), os.path.join(tmp, f"{name}.model.safetensors")
            save_safetensors(sd_path, tv.state_dict())
            run([a.cvtrain, "import", "--config", recipe, "--weights", sd_path, "--out", model_path])
            _, meta = load_safetensors(model_path)
            norm = json.loads(meta["preprocess"])
            want = torch_logits(tv, files["test"], norm["mean"], norm["std"])
            got = cvtrain_logits(a.cvtrain, model_path, files["test"])
            d1 = diff(got, want)
            # cvtrain -> torchvision
            run_dir = os.path.join(tmp, f"{name}.run")
            run([a.cvtrain, "train", recipe, "--out", run_dir])
            state, meta = load_safetensors(os.path.join(run_dir, "model.safetensors"))
            back = getattr(torchvision.models, name)(num_classes=len(CLASSES))
            back.load_state_dict(state, strict=True)
            norm = json.loads(meta["preprocess"])
            d2 = diff(torch_logits(back, files["test"], norm["mean"], norm["std"]),
                      cvtrain_logits(a.cvtrain, run_dir, files["test"]))
            for way, (absd, reld) in (("torchvision -> cvtrain", d1), ("cvtrain -> torchvision", d2)):
                ok = reld <= a.tol
                failed = failed or not ok
                print(f"{'ok' if ok else 'FAIL'} {name} {way}: max |logit diff| {absd:.3g} ({reld:.3g} of the largest logit)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
