#!/usr/bin/env python3
"""Side-by-side training throughput: cvtrain against the PyTorch reference recipe, same machine,
same architecture, batch size and threads, every variant run in turn within each round for several
rounds; prints per variant the median images/s and peak memory, and the median over rounds of the
per-round ratio cvtrain / variant (fp32 against fp32 variants, bf16 against bf16 ones). Not a test:
speed is measured here, not asserted.

Usage: bench/compare_torch.py [--models mlp cnn resnet20 wrn_16_4] [--rounds 3] [--limit 20000] [--threads 2]
         [--variants cv32 cv16 t1 t1cl t1amp t1ampcl t2 t2cl t2ampcl t2c t2campcl]
         [--cvtrain build/cvtrain] [--anchor ../shared/anchors/torch_fmnist.py]
         [--python /usr/bin/python3] [--python2 /work/venv-torch2/bin/python]
Variants: cv32 / cv16 cvtrain with train.precision fp32 / bf16; t1* PyTorch 1.13 (Debian), t2*
PyTorch 2.x (a venv from PyPI; skipped when absent); cl channels_last, amp bf16 autocast, c
torch.compile. Each run trains one epoch on the first LIMIT Fashion-MNIST training images (data
indexing included on both sides, evaluation excluded); torch.compile runs two and reports the
second (compilation excluded). Peak memory is each process's maximum resident set (wait4).
wrn_16_4 (not in the anchor): both sides train recipes/fashion_wrn16_4_candidate.yaml, PyTorch through
bench/torch_recipe.py (same augmentations and validation hold-out; its images/s counts the images
trained on, LIMIT less the hold-out, on both sides); torch.compile there compiles every batch shape
before the one timed epoch.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (PyTorch interpreter: 1 or 2 or None for cvtrain, anchor flags, precision)
VARIANTS = {
    'cv32': (None, [], 'fp32'),
    'cv16': (None, [], 'bf16'),
    't1': (1, [], 'fp32'),
    't1cl': (1, ['--channels-last'], 'fp32'),
    't1amp': (1, ['--amp'], 'bf16'),
    't1ampcl': (1, ['--amp', '--channels-last'], 'bf16'),
    't2': (2, [], 'fp32'),
    't2cl': (2, ['--channels-last'], 'fp32'),
    't2ampcl': (2, ['--amp', '--channels-last'], 'bf16'),
    't2c': (2, ['--compile'], 'fp32'),
    't2campcl': (2, ['--compile', '--amp', '--channels-last'], 'bf16'),
}
LABELS = {
    'cv32': 'cvtrain fp32', 'cv16': 'cvtrain bf16', 't1': 'PyTorch 1.13 fp32', 't1cl': 'PyTorch 1.13 fp32 channels_last',
    't1amp': 'PyTorch 1.13 bf16 autocast', 't1ampcl': 'PyTorch 1.13 bf16 autocast channels_last',
    't2': 'PyTorch 2 fp32', 't2cl': 'PyTorch 2 fp32 channels_last', 't2ampcl': 'PyTorch 2 bf16 autocast channels_last',
    't2c': 'PyTorch 2 compile fp32', 't2campcl': 'PyTorch 2 compile bf16 autocast channels_last',
}


# model -> recipe of both sides, for the models the anchor lacks (PyTorch side: bench/torch_recipe.py);
# the others train recipes/fashion_MODEL.yaml against the anchor
RECIPE_MODELS = {'wrn_16_4': 'fashion_wrn16_4_candidate.yaml'}


def recipe_of(model):
    return os.path.join(ROOT, 'recipes', RECIPE_MODELS.get(model, f'fashion_{model}.yaml'))


def run_measured(cmd):
    """Runs cmd; returns (stdout, peak resident MiB of that process)."""
    with tempfile.TemporaryFile('w+') as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise RuntimeError(f'{" ".join(cmd)} failed with {p.returncode}')
        out.seek(0)
        return out.read(), usage.ru_maxrss / 1024.0


def run_cvtrain(exe, model, limit, threads, bs, precision):
    with tempfile.TemporaryDirectory() as out:
        cmd = [exe, 'train', recipe_of(model), '--out', out,
               '--set', 'train.epochs=1', '--set', f'data.limit_train={limit}', '--set', 'data.limit_test=1000',
               '--set', f'threads={threads}', '--set', f'train.batch_size={bs}', '--set', 'train.progress=false',
               '--set', f'train.precision={precision}', '--set', 'train.plots=false', '--set', 'train.tensorboard=false']
        _, peak = run_measured(cmd)
        with open(os.path.join(out, 'metrics.jsonl')) as f:
            return json.loads(f.readline())['images_per_s'], peak


def run_torch_recipe(python, model, limit, threads, bs, flags, precision):
    cmd = [python, os.path.join(ROOT, 'bench', 'torch_recipe.py'), recipe_of(model), '--epochs', '1',
           '--threads', str(threads), '--limit', str(limit), '--limit-test', '1000', '--bs', str(bs),
           '--precision', precision] + [f for f in flags if f != '--amp']
    if '--amp' in flags and '--channels-last' not in flags:
        cmd.append('--nchw')  # torch_recipe.py's bf16 is channels_last unless told otherwise
    out, peak = run_measured(cmd)
    return json.loads(out.strip().splitlines()[0])['train_img_s'], peak


def run_torch(python, anchor, model, limit, threads, bs, flags, precision):
    if model in RECIPE_MODELS:
        return run_torch_recipe(python, model, limit, threads, bs, flags, precision)
    epochs = 2 if '--compile' in flags else 1
    cmd = [python, anchor, model, str(epochs), '--threads', str(threads), '--limit', str(limit), '--bs', str(bs)] + flags
    out, peak = run_measured(cmd)
    lines = [json.loads(l) for l in out.strip().splitlines()]
    return lines[epochs - 1]['train_img_s'], peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', nargs='+', default=['mlp', 'cnn', 'resnet20'])
    ap.add_argument('--variants', nargs='+', default=['cv32', 't1', 't1cl', 'cv16', 't1amp', 't1ampcl'])
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--limit', type=int, default=20000)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--cvtrain', default=os.path.join(ROOT, 'build', 'cvtrain'))
    ap.add_argument('--anchor', default=os.path.join(ROOT, '..', 'shared', 'anchors', 'torch_fmnist.py'))
    ap.add_argument('--python', default='/usr/bin/python3')
    ap.add_argument('--python2', default='/work/venv-torch2/bin/python')
    a = ap.parse_args()
    variants = [v for v in a.variants if VARIANTS[v][0] != 2 or os.path.exists(a.python2)]
    skipped = sorted(set(a.variants) - set(variants))
    if skipped:
        print(f'skipped (no {a.python2}): {" ".join(skipped)}', flush=True)
    results = []
    for model in a.models:
        # channels_last means nothing to the MLP's matrices
        vs = [v for v in variants if not (model == 'mlp' and 'cl' in v[2:])]
        ips = {v: [] for v in vs}
        mem = {v: [] for v in vs}
        for r in range(a.rounds):
            for v in vs:
                which, flags, precision = VARIANTS[v]
                if which is None:
                    x, m = run_cvtrain(a.cvtrain, model, a.limit, a.threads, a.bs, precision)
                else:
                    x, m = run_torch(a.python if which == 1 else a.python2, a.anchor, model, a.limit, a.threads,
                                     a.bs, flags, precision)
                ips[v].append(x)
                mem[v].append(m)
            print(f'{model} round {r + 1}: ' + ', '.join(f'{v} {ips[v][-1]:.0f}' for v in vs), flush=True)
        for v in vs:
            precision = VARIANTS[v][2]
            ours = 'cv16' if precision == 'bf16' else 'cv32'
            ratio = None
            if ours in ips and VARIANTS[v][0] is not None:
                ratio = statistics.median(o / t for o, t in zip(ips[ours], ips[v]))
            results.append(dict(model=model, variant=v, label=LABELS[v], img_s=round(statistics.median(ips[v]), 1),
                                peak_mib=round(statistics.median(mem[v]), 1),
                                ratio=None if ratio is None else round(ratio, 3), rounds=a.rounds,
                                threads=a.threads, batch=a.bs, limit=a.limit))
    print('\n| model | run | img/s | peak MiB | cvtrain (same precision) / this |\n|---|---|---|---|---|')
    for r in results:
        ratio = '' if r['ratio'] is None else f"{r['ratio']:.2f}x"
        print(f"| {r['model']} | {r['label']} | {r['img_s']:,.0f} | {r['peak_mib']:.0f} | {ratio} |")
    print(json.dumps(results))


if __name__ == '__main__':
    sys.exit(main())
