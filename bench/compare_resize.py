"""Pillow's side of bench/bench_resize.cpp: torchvision 0.14's Resize(S) + CenterCrop(S) on PIL images
of Fashion-MNIST's training set, converted to RGB first, as an ImageFolder pipeline does it, one
process. Usage: /usr/bin/python3 bench/compare_resize.py [ROOT] [SIZE...]"""
import gzip
import os
import sys
import time

import numpy as np
import torchvision.transforms as T
from PIL import Image

root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
sizes = [int(s) for s in sys.argv[2:]] or [64, 224]
raw = gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz")).read()
images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
for S in sizes:
    n = 10000 if S > 100 else len(images)
    tf = T.Compose([T.Resize(S), T.CenterCrop(S)])
    t0 = time.perf_counter()
    out = np.empty((n, S, S, 3), np.uint8)
    for i in range(n):
        out[i] = np.asarray(tf(Image.fromarray(images[i], "L").convert("RGB")))
    s = time.perf_counter() - t0
    print(f"{n} images 1x28x28 -> 3x{S}x{S}: {s:.2f} s ({n / s:.0f} img/s), Pillow {Image.__version__}")
