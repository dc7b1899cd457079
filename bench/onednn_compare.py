#!/usr/bin/env python3
"""Where a zoo model's training step spends its oneDNN time, cvtrain against PyTorch 2, per primitive
and shape: ONEDNN_VERBOSE of `cvtrain bench CONFIG --steps N` and of N steps of the same model in
PyTorch (tests/interop/scripts/torch_zoo.py; bf16 autocast, channels_last, SGD, batch 128, 2
threads), each summed per (primitive, direction, shape) over its training steps (calls after the last
backward call, cvtrain's evaluation passes, are left out). Prints ms per step and per call, side by side.
    bench/onednn_compare.py CONFIG MODEL [--cvtrain build/cvtrain] [--python /work/venv-torch2/bin/python] [--steps 10]"""
import argparse, collections, os, subprocess, sys

TORCH_SIDE = r'''
import sys, time, torch, torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from torch_zoo import build_model
torch.set_num_threads(2); torch.manual_seed(0)
m = build_model(sys.argv[2]).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(128, 1, 28, 28).to(memory_format=torch.channels_last); y = torch.randint(0, 10, (128,))
for _ in range(int(sys.argv[3])):
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = F.cross_entropy(m(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
'''


def summarize(text):
    """{(primitive, direction, shape): [calls, ms]} over the training steps, and the number of steps."""
    lines = [l.split(',') for l in text.splitlines() if l.startswith('onednn_verbose') and ',exec,' in l]
    backward = [i for i, f in enumerate(lines) if any(x.startswith('backward') for x in f)]
    lines = lines[:backward[-1] + 1] if backward else lines
    agg, steps = collections.defaultdict(lambda: [0, 0.0]), 0
    for f in lines:
        i = f.index('exec')
        prim, prop, shape, ms = f[i + 2], f[i + 4], f[-2], float(f[-1])
        steps += prim == 'convolution' and prop == 'backward_weights' and 'ic1oc' in shape  # the stem: once a step
        agg[(prim, prop, shape)][0] += 1
        agg[(prim, prop, shape)][1] += ms
    return agg, max(steps, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('config'); ap.add_argument('model')
    ap.add_argument('--cvtrain', default='build/cvtrain')
    ap.add_argument('--python', default='/work/venv-torch2/bin/python')
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--rows', type=int, default=25)
    a = ap.parse_args()
    env = dict(os.environ, ONEDNN_VERBOSE='1')
    cv = subprocess.run([a.cvtrain, 'bench', a.config, '--steps', str(a.steps), '--set', 'train.precision=bf16'],
                        env=env, capture_output=True, text=True, check=True).stdout
    zoo = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'interop', 'scripts')
    th = subprocess.run([a.python, '-c', TORCH_SIDE, zoo, a.model, str(a.steps)], env=env, capture_output=True,
                        text=True, check=True).stdout
    (ca, cs), (ta, ts) = summarize(cv), summarize(th)
    print(f"training steps seen: cvtrain {cs}, PyTorch {ts}")
    print(f"oneDNN ms per step: cvtrain {sum(v[1] for v in ca.values()) / cs:.1f}, "
          f"PyTorch {sum(v[1] for v in ta.values()) / ts:.1f}")
    print("| ms/step cvtrain | PyTorch | ms/call cvtrain | PyTorch | primitive | direction | shape |")
    print("|---|---|---|---|---|---|---|")
    for k in sorted(set(ca) | set(ta), key=lambda k: -max(ca.get(k, [0, 0])[1] / cs, ta.get(k, [0, 0])[1] / ts))[:a.rows]:
        c, t = ca.get(k, [0, 0.0]), ta.get(k, [0, 0.0])
        per = lambda v: f"{v[1] / v[0]:.2f}" if v[0] else "-"
        print(f"| {c[1] / cs:.2f} | {t[1] / ts:.2f} | {per(c)} | {per(t)} | {k[0]} | {k[1]} | {k[2]} |")


if __name__ == '__main__':
    sys.exit(main())
