#!/usr/bin/env python3
"""Writes Fashion-MNIST classes as an image folder of mixed-size RGB PNGs, the shape real photos
come in: each image upscaled (bilinear) to a random width and height in [28, 80] independently
(so most are not square) and tinted with a random colour (colour says nothing about the class).
Layout root/{train,val,test}/<class name>/<n>.png, torchvision's ImageFolder layout, which cvtrain
reads with data.dataset: image_folder (val/ is then the validation split).

Usage: fmnist_folder.py --out DIR [--classes 5 6 7 8 9] [--train 100] [--val 50] [--test 200]
                        [--root /usr/share/datasets/fashion-mnist] [--seed 0]
Python's standard library only (gzip, zlib, struct, random).
"""
import argparse, gzip, os, random, struct, zlib

NAMES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def find(root, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(root, name)):
            return os.path.join(root, name)
    raise SystemExit(f"fmnist_folder: {stem}(.gz) not found in {root} (Debian package dataset-fashion-mnist)")


def resize_bilinear(px, w, h, ow, oh):
    """px: w*h grey bytes -> ow*oh, bilinear with half-pixel centres (upscaling only)."""
    out = bytearray(ow * oh)
    for y in range(oh):
        sy = min(max((y + 0.5) * h / oh - 0.5, 0), h - 1)
        y0 = int(sy); y1 = min(y0 + 1, h - 1); fy = sy - y0
        for x in range(ow):
            sx = min(max((x + 0.5) * w / ow - 0.5, 0), w - 1)
            x0 = int(sx); x1 = min(x0 + 1, w - 1); fx = sx - x0
            top = px[y0 * w + x0] * (1 - fx) + px[y0 * w + x1] * fx
            bot = px[y1 * w + x0] * (1 - fx) + px[y1 * w + x1] * fx
            out[y * ow + x] = int(top * (1 - fy) + bot * fy + 0.5)
    return out


def write_png(path, rgb, w, h):
    raw = b"".join(b"\x00" + bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--classes", type=int, nargs="+", default=[5, 6, 7, 8, 9])
    ap.add_argument("--train", type=int, default=100)
    ap.add_argument("--val", type=int, default=50)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    # train/ and val/ from the training file (disjoint images), test/ from the test file
    for split, stem, counts in (("train", "train", (0, a.train)), ("val", "train", (a.train, a.train + a.val)),
                                ("test", "t10k", (0, a.test))):
        (n, h, w), pixels = read_idx(find(a.root, f"{stem}-images-idx3-ubyte"))
        _, labels = read_idx(find(a.root, f"{stem}-labels-idx1-ubyte"))
        seen = {c: 0 for c in a.classes}
        for i in range(n):
            c = labels[i]
            if c not in seen:
                continue
            k = seen[c]
            seen[c] += 1
            if not counts[0] <= k < counts[1]:
                continue
            ow, oh = rng.randint(28, 80), rng.randint(28, 80)
            grey = resize_bilinear(pixels[i * h * w:(i + 1) * h * w], w, h, ow, oh)
            tint = [rng.uniform(0.55, 1.0) for _ in range(3)]
            rgb = bytearray(3 * ow * oh)
            for j, v in enumerate(grey):
                rgb[3 * j], rgb[3 * j + 1], rgb[3 * j + 2] = int(v * tint[0]), int(v * tint[1]), int(v * tint[2])
            d = os.path.join(a.out, split, f"{c}_{NAMES[c]}")
            os.makedirs(d, exist_ok=True)
            write_png(os.path.join(d, f"{k:05d}.png"), rgb, ow, oh)
    print(f"fmnist_folder: wrote {a.out}/{{train,val,test}} for classes {a.classes}")


if __name__ == "__main__":
    main()
