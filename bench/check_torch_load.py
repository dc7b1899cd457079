#!/usr/bin/env python3
"""Loads a cvtrain run's model.safetensors into the PyTorch reference class (MLP or CNN of
shared/anchors/torch_fmnist.py) with load_state_dict(strict=True), applies the stored
preprocessing, and prints the Fashion-MNIST test accuracy PyTorch computes, beside cvtrain's own.

Usage: /usr/bin/python3 bench/check_torch_load.py RUN_DIR [--anchor PATH] [--data DIR]
"""
import argparse, importlib.util, json, os, struct, sys
import numpy as np, torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = {'F32': np.float32, 'I64': np.int64, 'I32': np.int32, 'U8': np.uint8}


def load_safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    sd = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        b, e = v['data_offsets']
        sd[k] = torch.from_numpy(np.frombuffer(data[b:e], dtype=DTYPES[v['dtype']]).reshape(v['shape']).copy())
    return sd, header.get('__metadata__', {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('run')
    ap.add_argument('--anchor', default=os.path.join(ROOT, '..', 'shared', 'anchors', 'torch_fmnist.py'))
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location('anchor', a.anchor)
    anchor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchor)
    sd, meta = load_safetensors(os.path.join(a.run, 'model.safetensors'))
    name = next(l.split(':', 1)[1].strip() for l in meta['config'].splitlines() if l.strip().startswith('name:') and 'sgd' not in l)
    model = {'mlp': anchor.MLP, 'cnn': anchor.CNN, 'resnet20': anchor.ResNet20}[name]()
    model.load_state_dict(sd, strict=True)
    model.eval()
    pre = json.loads(meta['preprocess'])
    xte = anchor.load_idx(f'{a.data}/t10k-images-idx3-ubyte.gz')
    yte = anchor.load_idx(f'{a.data}/t10k-labels-idx1-ubyte.gz')
    x = (torch.tensor(xte, dtype=torch.float32) / 255.0 - pre['mean'][0]) / pre['std'][0]
    with torch.no_grad():
        logits = model(x.unsqueeze(1))
    acc = (logits.argmax(1).numpy() == yte).mean()
    print(json.dumps(dict(model=name, run=a.run, torch_test_acc=float(acc), strict_load=True)))


if __name__ == '__main__':
    sys.exit(main())
