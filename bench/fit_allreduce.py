#!/usr/bin/env python3
"""Fits the ring all-reduce cost model to bench/multihost_netem.sh's measurements and projects
data-parallel training to many hosts of the same kind (docs/distributed.md).

Model (Patarasuk & Yuan; Thakur et al.): summing n bytes over p hosts in a ring takes
    T(p, n) = 2 (p - 1) alpha + 2 (p - 1) / p * n * beta
alpha: the time of one message hop (latency and software), beta: seconds per byte of one host's link.
Fitted per network by least squares on relative error over every measured (p, n).

A training step without overlap: t = t_compute + T(p, gradient bytes) + T(p, 32 bytes), the second
being the batch totals (loss, accuracy, images, a non-finite flag) summed every step.

Usage: bench/fit_allreduce.py OUT_DIR [--hosts 8 16 32 64 128 256] [--next-net 1000:1000] [--next-hosts 64]
"""
import argparse, json, math, statistics, sys
from collections import defaultdict

PARAMS = {'cnn': 421738, 'resnet20': 272186}  # `cvtrain models`: parameters, f32 gradients
TOTALS_BYTES = 32


def ring(p, n, alpha, beta):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta


def fit(rows):
    """alpha, beta minimising sum ((model - t) / t)^2: a 2x2 linear least squares."""
    a11 = a12 = a22 = b1 = b2 = 0.0
    for r in rows:
        p, n, t = r['ranks'], r['bytes'], r['median_s']
        x1, x2 = 2 * (p - 1) / t, 2 * (p - 1) / p * n / t
        a11 += x1 * x1; a12 += x1 * x2; a22 += x2 * x2; b1 += x1; b2 += x2
    det = a11 * a22 - a12 * a12
    return (b1 * a22 - b2 * a12) / det, (a11 * b2 - a12 * b1) / det


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--hosts', type=int, nargs='+', default=[8, 16, 32, 64, 128, 256])
    ap.add_argument('--next-net', default='1000:1000', help='the network of the what-to-build-next table')
    ap.add_argument('--next-hosts', type=int, default=64)
    a = ap.parse_args()
    ar = [json.loads(l) for l in open(f'{a.out}/allreduce.jsonl')]
    tr = [json.loads(l) for l in open(f'{a.out}/train.jsonl')]
    by_net = defaultdict(list)
    for r in ar:
        by_net[r['net']].append(r)
    compute = {r['model']: r['step_s'] for r in tr if r['ranks'] == 1}
    models = [m for m in PARAMS if m in compute]
    fits = {}
    print('## Fitted ring model per network')
    print('| network | alpha (one hop) | 1/beta (link) | worst relative error, p = 2..4, 4 B..4 MiB |')
    print('|---|---|---|---|')
    for net, rows in by_net.items():
        alpha, beta = fit(rows)
        fits[net] = (alpha, beta)
        worst = max(abs(ring(r['ranks'], r['bytes'], alpha, beta) - r['median_s']) / r['median_s'] for r in rows)
        print(f'| {net} | {alpha * 1e6:.1f} us | {8 / beta / 1e9:.2f} Gbit/s | {worst:.0%} |')
    print('\n## Measured all-reduce medians (ms) against the model')
    print('| network | hosts | ' + ' | '.join(f'{b} B' for b in sorted({r["bytes"] for r in ar})) + ' |')
    for net, rows in by_net.items():
        alpha, beta = fits[net]
        for p in sorted({r['ranks'] for r in rows}):
            cells = []
            for r in sorted((r for r in rows if r['ranks'] == p), key=lambda r: r['bytes']):
                cells.append(f"{r['median_s'] * 1e3:.3g} ({ring(p, r['bytes'], alpha, beta) * 1e3:.3g})")
            print(f'| {net} | {p} | ' + ' | '.join(cells) + ' |')
    print('\n## Training on 2 hosts, batch 64 each: measured step and wait against the model')
    print('| network | model | overlap | bucket MiB | step ms | waits ms | model: wait ms (no overlap) |')
    print('|---|---|---|---|---|---|---|')
    for r in tr:
        if r['ranks'] != 2 or 'series' in r: continue
        alpha, beta = fits[r['net']]
        want = ring(2, 4 * PARAMS[r['model']], alpha, beta) + ring(2, TOTALS_BYTES, alpha, beta)
        print(f"| {r['net']} | {r['model']} | {'on' if r['overlap'] else 'off'} | {r['bucket_mb']:g} | "
              f"{r['step_s'] * 1e3:.1f} | {r['comm_wait_s_per_step'] * 1e3:.1f} | {want * 1e3:.1f} |")
    print('\n## Projection: images/s (efficiency) for p hosts, batch 64 each, no overlap')
    print('| network | model | compute ms | ' + ' | '.join(str(p) for p in a.hosts) + ' |')
    print('|---|---|---|' + '---|' * len(a.hosts))
    for net, (alpha, beta) in fits.items():
        for m in models:
            tc = compute[m]
            cells = []
            for p in a.hosts:
                t = tc + ring(p, 4 * PARAMS[m], alpha, beta) + ring(p, TOTALS_BYTES, alpha, beta)
                cells.append(f'{64 * p / t:,.0f} ({tc / t:.0%})')
            print(f'| {net} | {m} | {tc * 1e3:.1f} | ' + ' | '.join(cells) + ' |')

    print_next_steps(fits, compute, models, a.next_net, a.next_hosts)
    print_local_sgd(fits, [r for r in tr if r.get('series') == 'local_sgd'])


def print_local_sgd(fits, rows):
    """Local SGD (train.dist_local_sgd N) measured beside today's every-step sum in one session: an
    average every N steps sends the weights (the gradient's bytes) and the batch totals, so the model
    divides today's wait by N."""
    if not rows:
        return
    print('\n## Local SGD on 2 hosts, measured beside the every-step gradient sum (one session)')
    print('| network | model | sum | step ms | waits ms | model: wait ms | step speed-up |')
    print('|---|---|---|---|---|---|---|')
    base = {(r['net'], r['model']): r for r in rows if 'local_sgd' not in r}
    for r in rows:
        alpha, beta = fits[r['net']]
        every = r.get('local_sgd', 1)
        want = (ring(2, 4 * PARAMS[r['model']], alpha, beta) + ring(2, TOTALS_BYTES, alpha, beta)) / every
        what = f"weights every {every}" if 'local_sgd' in r else f"gradients, overlap {'on' if r['overlap'] else 'off'}"
        b = base.get((r['net'], r['model']))
        gain = f"{b['step_s'] / r['step_s']:.2f}x" if b else ''
        print(f"| {r['net']} | {r['model']} | {what} | {r['step_s'] * 1e3:.1f} | "
              f"{r['comm_wait_s_per_step'] * 1e3:.1f} | {want * 1e3:.1f} | {gain} |")


def hierarchical(p, n, alpha, beta):
    """Two-level ring on a g x (p/g) grid, g ~ sqrt(p): reduce-scatter along rows, all-reduce of each
    1/g slice along columns, all-gather along rows."""
    g = max(1, round(math.sqrt(p)))
    q = p / g
    return (2 * (g - 1) * alpha + 2 * (g - 1) / g * n * beta) + ring(q, n / g, alpha, beta)


def print_next_steps(fits, compute, models, net, p):
    """Projected images/s at p hosts on one network for each candidate improvement (no overlap)."""
    if net not in fits:
        return
    alpha, beta = fits[net]
    print(f'\n## What to build next: projected images/s at {p} hosts on {net} (speed-up over today)')
    print('| change | ' + ' | '.join(models) + ' |')
    print('|---|' + '---|' * len(models))
    def step(m, grad, totals, every=1):
        return compute[m] + (grad + totals) / every
    variants = [
        ('today: gradient ring + batch-totals ring, every step', lambda m, n: step(m, ring(p, n, alpha, beta), ring(p, TOTALS_BYTES, alpha, beta))),
        ('bf16 gradients on the wire (half the bytes)', lambda m, n: step(m, ring(p, n / 2, alpha, beta), ring(p, TOTALS_BYTES, alpha, beta))),
        ('batch totals folded into the gradient sum', lambda m, n: step(m, ring(p, n + TOTALS_BYTES, alpha, beta), 0)),
        ('hierarchical (2-level) all-reduce', lambda m, n: step(m, hierarchical(p, n, alpha, beta), hierarchical(p, TOTALS_BYTES, alpha, beta))),
        ('local SGD, weights averaged every 4 steps', lambda m, n: step(m, ring(p, n, alpha, beta), ring(p, TOTALS_BYTES, alpha, beta), 4)),
        ('totals folded + hierarchical', lambda m, n: step(m, hierarchical(p, n + TOTALS_BYTES, alpha, beta), 0)),
    ]
    base = {m: variants[0][1](m, 4 * PARAMS[m]) for m in models}
    for name, t in variants:
        cells = [f'{64 * p / t(m, 4 * PARAMS[m]):,.0f} ({base[m] / t(m, 4 * PARAMS[m]):.2f}x)' for m in models]
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
