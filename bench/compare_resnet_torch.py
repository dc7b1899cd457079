#!/usr/bin/env python3
"""torchvision's resnet18 (or 34/50) in cvtrain against PyTorch 2, same machine, model, batch, threads
and input size, random data: per round, `cvtrain bench` (train.precision fp32, then bf16) and
bench/torch_resnet_step.py (eager, channels_last, fp32, then bf16 autocast) in turn, at each input
size; prints the median images/s of training and evaluation per variant and the median over rounds of
the per-round ratio cvtrain / PyTorch. Not a test: speed is measured here, not asserted.
`cvtrain bench` reads the image shape from the dataset: a folder of one 3xSIZExSIZE PNG per class
(written here) gives it.
Usage: bench/compare_resnet_torch.py [--model resnet18] [--sizes 64 224] [--bs 32] [--steps 20]
         [--rounds 3] [--threads 2] [--cvtrain build/cvtrain] [--python2 /work/venv-torch2/bin/python]
"""
import argparse, json, os, statistics, struct, subprocess, sys, tempfile, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = 10


def write_png(path, size):  # a mid-gray RGB image: only its shape matters
    raw = b''.join(b'\x00' + b'\x80' * (3 * size) for _ in range(size))
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def image_folder(tmp, size):
    root = os.path.join(tmp, f'images{size}')
    for split in ('train', 'test'):
        for c in range(CLASSES):
            os.makedirs(os.path.join(root, split, f'c{c}'), exist_ok=True)
            write_png(os.path.join(root, split, f'c{c}', '0.png'), size)
    return root


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='resnet18')
    ap.add_argument('--sizes', nargs='+', type=int, default=[64, 224])
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--cvtrain', default=os.path.join(ROOT, 'build', 'cvtrain'))
    ap.add_argument('--python2', default='/work/venv-torch2/bin/python')
    a = ap.parse_args()
    step = os.path.join(ROOT, 'bench', 'torch_resnet_step.py')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes:
            root = image_folder(tmp, size)
            res = {k: [] for k in ('cv32', 'cv16', 't32', 't16')}
            for r in range(a.rounds):
                for key, precision in (('cv32', 'fp32'), ('cv16', 'bf16')):
                    res[key].append(run_json([
                        a.cvtrain, 'bench', os.path.join(ROOT, 'recipes', 'fashion_cnn.yaml'), '--json',
                        '--steps', str(a.steps), '--set', 'data.dataset=image_folder', '--set', f'data.root={root}',
                        '--set', f'model.name={a.model}', '--set', f'threads={a.threads}',
                        '--set', f'train.batch_size={a.bs}', '--set', f'train.eval_batch_size={a.bs}',
                        '--set', f'train.precision={precision}']))
                for key, flags in (('t32', []), ('t16', ['--bf16'])):
                    res[key].append(run_json([a.python2, step, a.model, str(size), '--bs', str(a.bs), '--steps',
                                              str(a.steps), '--threads', str(a.threads), '--classes', str(CLASSES)] + flags))
                print(f'{size}x{size} round {r + 1}: ' + ', '.join(
                    f"{k} train {v[-1]['train_images_per_s']:.1f} eval {v[-1]['eval_images_per_s']:.1f}"
                    for k, v in res.items()), flush=True)
            for ours, theirs, precision in (('cv32', 't32', 'fp32'), ('cv16', 't16', 'bf16')):
                row = {'size': size, 'precision': precision, 'torch': res[theirs][0]['torch']}
                for phase in ('train', 'eval'):
                    k = f'{phase}_images_per_s'
                    row[f'cvtrain_{phase}'] = statistics.median(x[k] for x in res[ours])
                    row[f'torch_{phase}'] = statistics.median(x[k] for x in res[theirs])
                    row[f'{phase}_ratio'] = statistics.median(o[k] / t[k] for o, t in zip(res[ours], res[theirs]))
                rows.append(row)
    print(f'\n{a.model}, batch {a.bs}, {a.threads} threads, {a.steps} timed steps, median of {a.rounds} rounds\n')
    print('| input | precision | cvtrain train img/s | PyTorch train img/s | ratio | cvtrain eval img/s | '
          'PyTorch eval img/s | ratio |\n|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| 3x{r['size']}x{r['size']} | {r['precision']} | {r['cvtrain_train']:.1f} | {r['torch_train']:.1f} | "
              f"{r['train_ratio']:.2f}x | {r['cvtrain_eval']:.1f} | {r['torch_eval']:.1f} | {r['eval_ratio']:.2f}x |")
    print(json.dumps(rows))


if __name__ == '__main__':
    sys.exit(main())
