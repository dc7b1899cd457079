#!/usr/bin/env python3
"""The PyTorch side of bench/compare_resnet_torch.py: training and evaluation images per second of a
torchvision ResNet on random data, as `cvtrain bench` measures them (SGD with momentum, cross entropy,
5 warm-up steps, then STEPS timed steps at batch BS; evaluation: forward only under no_grad at the
same batch). Eager mode, channels_last; --bf16: torch.autocast(cpu, bfloat16). Prints one JSON line.
    torch_resnet_step.py MODEL SIZE [--bs 32] [--steps 20] [--threads 2] [--classes 10] [--bf16]"""
import argparse, json, time

import torch
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('size', type=int)
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--classes', type=int, default=10)
    ap.add_argument('--bf16', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.model)(num_classes=a.classes).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(a.bs, 3, a.size, a.size).to(memory_format=torch.channels_last)
    y = torch.randint(0, a.classes, (a.bs,))
    amp = torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.bf16)

    def step():
        with amp:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    for _ in range(5):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    train_ips = a.steps * a.bs / (time.perf_counter() - t0)
    model.eval()
    rounds = max(3, a.steps // 10)
    with torch.no_grad(), amp:
        model(x)
        t0 = time.perf_counter()
        for _ in range(rounds):
            model(x)
        eval_ips = rounds * a.bs / (time.perf_counter() - t0)
    print(json.dumps({'torch': torch.__version__, 'train_images_per_s': train_ips, 'eval_images_per_s': eval_ips}))


if __name__ == '__main__':
    main()
