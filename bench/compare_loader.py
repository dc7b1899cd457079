"""torchvision side of the loader benchmark: the fashion_cnn_aug recipe's augmentation list
(RandomHorizontalFlip, RandomCrop(28, padding=2), RandomErasing(scale=(0.02, 0.25))) applied per
image by torchvision 0.14 transforms on uint8 tensors, batched by torch's DataLoader (batch 128,
shuffled), with 0 and 2 worker processes. Prints images per second; compare with
build/bench/bench_loader on the same machine. Usage: /usr/bin/python3 bench/compare_loader.py [N]"""
import gzip
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T

root = "/usr/share/datasets/fashion-mnist"
n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
with gzip.open(root + "/train-images-idx3-ubyte.gz") as f:
    images = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n].copy())
with gzip.open(root + "/train-labels-idx1-ubyte.gz") as f:
    labels = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int64))

mean, std = images.float().mean().item() / 255, images.float().std().item() / 255
plain = T.Compose([T.ConvertImageDtype(torch.float32), T.Normalize([mean], [std])])
augment = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(28, padding=2), T.ConvertImageDtype(torch.float32),
                     T.Normalize([mean], [std]), T.RandomErasing(p=0.5, scale=(0.02, 0.25), value=0)])


class Images(torch.utils.data.Dataset):
    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return len(labels)

    def __getitem__(self, i):
        return self.transform(images[i]), labels[i]


torch.set_num_threads(2)
for name, tf in (("plain", plain), ("flip+crop+erasing", augment)):
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(Images(tf), batch_size=128, shuffle=True, num_workers=workers)
        t0 = time.perf_counter()
        seen = sum(x.shape[0] for x, _ in loader)
        print("torchvision %s, %d workers: %.0f img/s" % (name, workers, seen / (time.perf_counter() - t0)))
