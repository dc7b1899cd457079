#!/usr/bin/env python3
"""Side-by-side training throughput: cvtrain against the PyTorch reference recipe, same machine,
same architecture, batch size and threads, alternating runs for several rounds; prints the median
images/s of each and their ratio per model. Not a test: speed is measured here, not asserted.

Usage: bench/compare_torch.py [--models mlp cnn] [--rounds 3] [--limit 20000] [--threads 2]
         [--cvtrain build/cvtrain] [--anchor ../shared/anchors/torch_fmnist.py] [--python /usr/bin/python3]
Each run trains one epoch on the first LIMIT Fashion-MNIST training images (data indexing included
on both sides, evaluation excluded) and reports training images per second.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cvtrain(exe, model, limit, threads, bs):
    with tempfile.TemporaryDirectory() as out:
        cmd = [exe, 'train', os.path.join(ROOT, 'recipes', f'fashion_{model}.yaml'), '--out', out,
               '--set', 'train.epochs=1', '--set', f'data.limit_train={limit}', '--set', 'data.limit_test=1000',
               '--set', f'threads={threads}', '--set', f'train.batch_size={bs}', '--set', 'train.progress=false']
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, 'metrics.jsonl')) as f:
            return json.loads(f.readline())['images_per_s']


def run_torch(python, anchor, model, limit, threads, bs):
    cmd = [python, anchor, model, '1', '--threads', str(threads), '--limit', str(limit), '--bs', str(bs)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return json.loads(out[0])['train_img_s']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', nargs='+', default=['mlp', 'cnn'])
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--limit', type=int, default=20000)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--cvtrain', default=os.path.join(ROOT, 'build', 'cvtrain'))
    ap.add_argument('--anchor', default=os.path.join(ROOT, '..', 'shared', 'anchors', 'torch_fmnist.py'))
    ap.add_argument('--python', default='/usr/bin/python3')
    a = ap.parse_args()
    rows = []
    for model in a.models:
        ours, theirs = [], []
        for r in range(a.rounds):
            ours.append(run_cvtrain(a.cvtrain, model, a.limit, a.threads, a.bs))
            theirs.append(run_torch(a.python, a.anchor, model, a.limit, a.threads, a.bs))
            print(f'{model} round {r + 1}: cvtrain {ours[-1]:.0f} img/s, pytorch {theirs[-1]:.0f} img/s', flush=True)
        m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
        rows.append(dict(model=model, cvtrain_img_s=round(m_ours, 1), torch_img_s=round(m_theirs, 1),
                         ratio=round(m_ours / m_theirs, 3), rounds=a.rounds, threads=a.threads, batch=a.bs))
    print('\n| model | cvtrain img/s | PyTorch img/s | ratio |\n|---|---|---|---|')
    for r in rows:
        print(f"| {r['model']} | {r['cvtrain_img_s']:.0f} | {r['torch_img_s']:.0f} | {r['ratio']:.2f}x |")
    print(json.dumps(rows))


if __name__ == '__main__':
    sys.exit(main())
