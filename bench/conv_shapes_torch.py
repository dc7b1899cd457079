#!/usr/bin/python3
# PyTorch's time per call for the Fashion-MNIST CNN's conv and linear shapes at N=128 with 2 threads:
# the baseline that bench_conv / bench_gemm are read against. Run: /usr/bin/python3 bench/conv_shapes_torch.py
# Forward, backward-data (dx) and backward-weights (dw [+db]) are timed separately (autograd.grad on a
# retained graph); each figure is the best of 7 rounds, the machine being shared.
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def timeit(fn, rounds=7, round_time=0.15):
    # The machine is shared: the best of several rounds' mean is the figure least disturbed by others.
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(rounds):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < round_time:
            fn()
            n += 1
        best = min(best, (time.perf_counter() - t0) / n * 1e3)
    return best  # ms per call


def conv_case(name, n, c, h, w, oc, k, pad, bias):
    x = torch.randn(n, c, h, w)
    wt = torch.randn(oc, c, k, k) * 0.1
    b = torch.randn(oc) if bias else None
    y = F.conv2d(x, wt, b, padding=pad)
    dy = torch.randn_like(y)
    fwd = timeit(lambda: F.conv2d(x, wt, b, padding=pad))
    # dx only: x requires grad, weight does not; dw only: the other way round
    xg, wg = x.clone().requires_grad_(True), wt.clone().requires_grad_(True)

    # the graph is kept (retain_graph) so that only the backward is timed
    out_d = F.conv2d(xg, wt, b, padding=pad)
    tb_d = timeit(lambda: torch.autograd.grad(out_d, xg, dy, retain_graph=True))
    out_w = F.conv2d(x, wg, b, padding=pad)
    tb_w = timeit(lambda: torch.autograd.grad(out_w, wg, dy, retain_graph=True))
    print(f"{name:34s} fwd {fwd:7.3f} ms   bwd_data {tb_d:7.3f} ms   bwd_weights {tb_w:7.3f} ms")


def linear_case(name, n, i, o):
    x = torch.randn(n, i)
    wt = torch.randn(o, i) * 0.05
    b = torch.randn(o)
    dy = torch.randn(n, o)
    fwd = timeit(lambda: F.linear(x, wt, b))
    xg, wg = x.clone().requires_grad_(True), wt.clone().requires_grad_(True)
    out = F.linear(xg, wg, b)
    both = timeit(lambda: torch.autograd.grad(out, (xg, wg), dy, retain_graph=True))
    flops = 2.0 * n * i * o
    print(f"{name:34s} fwd {fwd:7.3f} ms ({flops / fwd / 1e6:6.1f} GFLOP/s)   "
          f"bwd dx+dw {both:7.3f} ms ({2 * flops / both / 1e6:6.1f} GFLOP/s)")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.is_available()}")
    conv_case("conv1 128x1x28x28 -> 32 3x3 p1", 128, 1, 28, 28, 32, 3, 1, False)
    conv_case("conv2 128x32x14x14 -> 64 3x3 p1", 128, 32, 14, 14, 64, 3, 1, False)
    conv_case("conv2+bias", 128, 32, 14, 14, 64, 3, 1, True)
    linear_case("linear 128x3136 -> 128", 128, 3136, 128)
    linear_case("linear 128x128 -> 10", 128, 128, 10)
    linear_case("linear 128x784 -> 512", 128, 784, 512)
    linear_case("linear 128x512 -> 256", 128, 512, 256)
    linear_case("linear 128x256 -> 10", 128, 256, 10)
