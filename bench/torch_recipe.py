#!/usr/bin/env python3
"""A cvtrain Fashion-MNIST recipe trained in PyTorch, for side-by-side time to accuracy.

Reads the recipe YAML and trains the same thing: the zoo model as cvtrain builds it (resnet20/32/56/110,
preact_resnet20, wrn_16_4, wrn_28_10; PyTorch's default init, as cvtrain's model.init: pytorch), the
normalization cvtrain fits on its training split (data.preprocess: channel), the validation hold-out,
per-image augmentation in [0,1] pixel space before normalization (hflip, crop, erasing, drawn as
src/cvtrain/data/augment.cpp draws them), SGD with OneCycleLR and label smoothing. A key, model or
augmentation this script does not mirror is refused (exit 2, one line), so a comparison is never
silently different. Not a test: it measures.

Usage: torch_recipe.py RECIPE [--threads N] [--epochs N] [--limit N] [--limit-test N] [--seed N]
         [--eval-every N] [--precision fp32|bf16] [--channels-last] [--compile] [--describe]
       torch_recipe.py --print-flags RECIPE      (the recipe as this script's flags, one line)
Without PyYAML in this interpreter, --yaml-python (default /usr/bin/python3) parses the recipe and
hands it over as JSON. Flags given on the command line override the recipe's.
Output: a JSON line per evaluated epoch {epoch, train_s (that epoch's), cum_train_s (all epochs so
far), train_img_s, val_acc (with a hold-out), test_acc}, then a summary line. Training time counts
shuffling, indexing, augmentation and the steps; evaluation is excluded. bf16: autocast (bfloat16) and
channels_last. --compile: torch.compile (static shapes), compiled on every batch shape before the
timed epochs; the compilation's seconds are reported apart (compile_s).
"""
import argparse, copy, gzip, json, math, shlex, struct, subprocess, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent.parent / 'tests' / 'interop' / 'scripts'))
from torch_zoo import build_model  # noqa: E402  the PyTorch mirrors of cvtrain's models

# ------------------------------------------------------------------------------------------------
# Recipe -> flags. Each mirrored key becomes one flag; the rest is refused unless it cannot change
# what is trained or measured.

CVTRAIN_DEFAULTS = {  # the cvtrain defaults of the mirrored keys (`cvtrain config --reference`)
    'seed': 0, 'data.dataset': 'fashion_mnist', 'data.root': '/usr/share/datasets/fashion-mnist',
    'data.limit_train': 0, 'data.limit_test': 0, 'data.val_fraction': 0.0, 'data.drop_last': False,
    'data.augment': [], 'model.name': 'cnn', 'model.dropout': -1.0, 'train.epochs': 3, 'train.batch_size': 128,
    'train.eval_batch_size': 128, 'train.precision': 'fp32', 'train.label_smoothing': 0.0, 'train.eval_every': 1,
    'optim.name': 'sgd', 'optim.lr': 0.1, 'optim.momentum': 0.9, 'optim.dampening': 0.0, 'optim.nesterov': True,
    'optim.weight_decay': 5e-4, 'optim.decay_bias_and_norm': True, 'optim.schedule': 'onecycle',
    'optim.pct_start': 0.15, 'optim.cycle_momentum': True, 'optim.base_momentum': 0.85, 'optim.max_momentum': 0.95,
}
# Keys that change speed, files or the terminal only; the PyTorch side has its own --threads.
IGNORED = {'threads', 'data.workers', 'train.progress', 'train.plots', 'train.tensorboard', 'train.histograms',
           'train.log_every_steps', 'train.keep_last', 'train.checkpoint_every_steps', 'train.memory_format',
           'train.keep', 'train.snapshots', 'train.diagnostics_every', 'model.fmp_test_samples'}
# Keys accepted only at the value at which cvtrain trains what this script trains.
NEUTRAL = {'device': 'cpu', 'data.preprocess': 'channel', 'data.mean': [], 'data.std': [], 'data.classes': [],
           'data.per_class': 0, 'data.image_size': [], 'data.channels': 0, 'data.crop_fraction': 1.0,
           'data.mixup_alpha': 0.0, 'data.cutmix_alpha': 0.0, 'model.init': 'pytorch', 'model.activation': 'relu',
           'model.dropout_mode': 'inverted', 'model.zero_init_residual': False, 'model.drop_path': 0.0,
           'model.dropconnect': 0.0, 'model.init_from': '', 'model.freeze': [], 'model.freeze_bn': False,
           'train.bf16_activations': True, 'train.clip_grad_norm': 0.0, 'train.clip_grad_value': 0.0,
           'train.accumulate_steps': 1, 'train.ema_decay': 0.0, 'train.early_stop_patience': 0,
           'train.max_steps': 0, 'train.skip_nonfinite': 0, 'optim.l1': 0.0, 'optim.bias_lr_mult': 1.0,
           'optim.warmup_steps': 0, 'optim.warmup_epochs': 0, 'optim.scale_lr': 'none', 'optim.lr_mult': {}}
MODELS = ('resnet20', 'resnet32', 'resnet56', 'resnet110', 'preact_resnet20', 'wrn_16_4', 'wrn_28_10')
# name -> (cvtrain's default p, {parameter: default}) from the rows of augment_registry()
AUGMENTS = {'hflip': (0.5, {}),
            'crop': (1.0, {'size': 0, 'padding': 4, 'padding_mode': 'zero'}),
            'erasing': (0.5, {'scale': [0.02, 0.33], 'ratio': [0.3, 3.3], 'value': 0, 'mode': 'constant'})}
# what this script does not do, though cvtrain accepts it
AUGMENT_LIMITS = {('crop', 'size'): [0], ('crop', 'padding_mode'): ['zero'], ('erasing', 'mode'): ['constant']}


class Refused(Exception):
    pass


def flatten(cfg, prefix=''):
    out = {}
    for k, v in cfg.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict) and key in ('data', 'model', 'train', 'optim'):
            out.update(flatten(v, key + '.'))
        else:
            out[key] = v
    return out


def same(a, b):
    """a (from YAML) is the value b; numbers compare as numbers ('5e-4' is a string to PyYAML)."""
    if isinstance(a, str) and isinstance(b, (int, float)) and not isinstance(b, bool):
        try:
            a = float(a)
        except ValueError:
            return False
    if isinstance(b, bool) or isinstance(a, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(b, (int, float)) and isinstance(a, (int, float)):
        return float(a) == float(b)
    return (a if a is not None else type(b)()) == b


def pair(v, what):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [float(v), float(v)]
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return [float(x) for x in v]
    raise Refused(f'{what}: expected a number or [lo, hi], got {v!r}')


def augment_flag(i, entry):
    """One data.augment entry -> 'name:p=P:key=value...' with every parameter resolved."""
    if not isinstance(entry, dict) or 'name' not in entry:
        raise Refused(f'data.augment[{i}]: expected {{name: ..., p: ..., parameters}}, got {entry!r}')
    name = entry['name']
    if name not in AUGMENTS:
        raise Refused(f'data.augment[{i}]: augmentation {name!r} is not mirrored (mirrored: {", ".join(AUGMENTS)})')
    default_p, params = AUGMENTS[name]
    p = float(entry.get('p', default_p))
    out = [name, f'p={p:g}']
    for k in entry:
        if k not in ('name', 'p') and k not in params:
            raise Refused(f'data.augment[{i}].{k}: {name} has no parameter {k!r} mirrored here')
    for k, d in params.items():
        v = entry.get(k, d)
        if isinstance(d, list):
            v = pair(v, f'data.augment[{i}].{k}')
            text = ','.join(f'{x:g}' for x in v)
        else:
            text = f'{v:g}' if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
        allowed = AUGMENT_LIMITS.get((name, k))
        if allowed is not None and not any(same(v, a) for a in allowed):
            raise Refused(f'data.augment[{i}].{k}: {v!r} is not mirrored (only {allowed})')
        out.append(f'{k}={text}')
    return ':'.join(out)


def load_recipe(path, yaml_python):
    """The recipe as a dict, parsed by PyYAML here, or by yaml_python (as JSON) where it is missing."""
    try:
        open(path).close()
    except OSError as e:
        raise Refused(f'{path}: {e.strerror}')
    try:
        import yaml
    except ImportError:
        code = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), default=str))'
        p = subprocess.run([yaml_python, '-c', code, path], capture_output=True, text=True)
        if p.returncode != 0:
            last = p.stderr.strip().splitlines()[-1:] or [f'exit {p.returncode}']
            raise Refused(f'{path}: {yaml_python} could not read it as YAML: {last[0]}')
        return json.loads(p.stdout) or {}
    with open(path) as f:
        return yaml.safe_load(f) or {}


def recipe_flags(cfg):
    """A recipe (parsed YAML) as this script's flags; raises Refused on what is not mirrored."""
    flat = flatten(cfg)
    for k, v in flat.items():
        if k in IGNORED or k in CVTRAIN_DEFAULTS:
            continue
        if k in NEUTRAL:
            if not same(v, NEUTRAL[k]):
                raise Refused(f'{k}: {v!r} is not mirrored (only {NEUTRAL[k]!r}, cvtrain\'s default)')
            continue
        raise Refused(f'{k}: key not mirrored by bench/torch_recipe.py')
    c = dict(CVTRAIN_DEFAULTS)
    c.update({k: v for k, v in flat.items() if k in CVTRAIN_DEFAULTS})
    need = {'data.dataset': ['fashion_mnist'], 'optim.name': ['sgd'], 'optim.schedule': ['onecycle'],
            'model.name': list(MODELS), 'train.precision': ['fp32', 'bf16']}
    for k, allowed in need.items():
        if c[k] not in allowed:
            raise Refused(f'{k}: {c[k]!r} is not mirrored (only {", ".join(allowed)})')
    if flat.get('train.keep', 'last') != 'last' and not float(c['data.val_fraction']) > 0:
        raise Refused(f'train.keep: {flat["train.keep"]} without data.val_fraction makes cvtrain hold out a '
                      'tenth of the training set; set data.val_fraction')
    if c['model.name'].startswith('resnet') and float(c['model.dropout']) > 0:
        raise Refused(f'model.dropout: {c["model.name"]} has no dropout layers')
    b = lambda v: 'true' if v else 'false'
    augment = [augment_flag(i, e) for i, e in enumerate(c['data.augment'] or [])]
    flags = ['--augment'] + augment + ['--model', c['model.name'], '--dropout', f'{float(c["model.dropout"]):g}',
             '--data', str(c['data.root']), '--seed', str(c['seed']),
             '--limit', str(c['data.limit_train']), '--limit-test', str(c['data.limit_test']),
             '--val-fraction', f'{float(c["data.val_fraction"]):g}', '--drop-last', b(c['data.drop_last']),
             '--epochs', str(c['train.epochs']), '--bs', str(c['train.batch_size']),
             '--eval-bs', str(c['train.eval_batch_size']), '--precision', c['train.precision'],
             '--label-smoothing', f'{float(c["train.label_smoothing"]):g}', '--eval-every', str(c['train.eval_every']),
             '--lr', f'{float(c["optim.lr"]):g}', '--momentum', f'{float(c["optim.momentum"]):g}',
             '--dampening', f'{float(c["optim.dampening"]):g}', '--nesterov', b(c['optim.nesterov']),
             '--weight-decay', f'{float(c["optim.weight_decay"]):g}',
             '--decay-bias-and-norm', b(c['optim.decay_bias_and_norm']),
             '--pct-start', f'{float(c["optim.pct_start"]):g}', '--cycle-momentum', b(c['optim.cycle_momentum']),
             '--base-momentum', f'{float(c["optim.base_momentum"]):g}',
             '--max-momentum', f'{float(c["optim.max_momentum"]):g}']
    return flags  # --augment first: its list ends at the next flag


def forward_macs(model, shape):
    """Multiply-adds of one forward pass per image, convolutions and linear layers (as `cvtrain models`)."""
    macs = [0]
    def conv(m, x, y): macs[0] += y[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
    def linear(m, x, y): macs[0] += y[0].numel() * m.in_features
    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return macs[0]


# ------------------------------------------------------------------------------------------------
# Data: IDX files, the hold-out, cvtrain's channel normalization, the augmentations.

def load_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    nd = struct.unpack('>I', data[:4])[0] & 0xff
    dims = struct.unpack('>' + 'I' * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def hold_out(labels, fraction, seed):
    """(train, val) indices: per class round(fraction * count) held out at random (as split_dataset)."""
    rng = np.random.default_rng(seed)
    val = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        q = int(math.floor(fraction * len(idx) + 0.5))
        val.extend(rng.choice(idx, q, replace=False).tolist())
    mask = np.zeros(len(labels), bool); mask[val] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def parse_augment(specs):
    """['crop:p=1:padding=2:...'] -> [(name, p, {key: value})] with ranges as (lo, hi)."""
    out = []
    for s in specs:
        name, *kv = s.split(':')
        if name not in AUGMENTS:
            raise Refused(f'--augment: {name!r} is not mirrored (mirrored: {", ".join(AUGMENTS)})')
        kw = dict(x.split('=', 1) for x in kv)
        p = float(kw.pop('p', AUGMENTS[name][0]))
        params = {}
        for k, d in AUGMENTS[name][1].items():
            v = kw.pop(k, None)
            if v is None:
                params[k] = d
            elif isinstance(d, list):
                params[k] = [float(x) for x in v.split(',')] * (2 if ',' not in v else 1)
            else:
                params[k] = v if isinstance(d, str) else float(v)
            allowed = AUGMENT_LIMITS.get((name, k))
            if allowed is not None and not any(same(params[k], a) for a in allowed):
                raise Refused(f'--augment {name}: {k}={v} is not mirrored (only {allowed})')
        if kw:
            raise Refused(f'--augment {name}: unknown parameter(s) {", ".join(kw)}')
        out.append((name, p, params))
    return out


def augment(x, steps, g):
    """x: (N,C,H,W) in [0,1] -> augmented (N,C,H,W); every image draws its own coin and parameters."""
    N, C, H, W = x.shape
    for name, p, a in steps:
        on = torch.ones(N, dtype=torch.bool) if p >= 1 else torch.rand(N, generator=g) < p
        if name == 'hflip':
            x = torch.where(on[:, None, None, None], x.flip(3), x)
        elif name == 'crop':  # RandomCrop(H, padding, zero fill): offsets in [0, 2 * padding] per image
            pad = int(a['padding'])
            top = torch.randint(0, 2 * pad + 1, (N,), generator=g)
            left = torch.randint(0, 2 * pad + 1, (N,), generator=g)
            top = torch.where(on, top, torch.full_like(top, pad)); left = torch.where(on, left, torch.full_like(left, pad))
            xp = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # (N,H+2p,W+2p,C)
            rows = top[:, None, None] + torch.arange(H)[None, :, None]
            cols = left[:, None, None] + torch.arange(W)[None, None, :]
            x = xp[torch.arange(N)[:, None, None], rows, cols].permute(0, 3, 1, 2).contiguous()
        elif name == 'erasing':  # RandomErasing.get_params: 10 attempts, the first that fits; else no erasing
            area = H * W
            s0, s1 = a['scale']; r0, r1 = math.log(a['ratio'][0]), math.log(a['ratio'][1])
            target = area * (s0 + (s1 - s0) * torch.rand(N, 10, generator=g, dtype=torch.float64))
            aspect = torch.exp(r0 + (r1 - r0) * torch.rand(N, 10, generator=g, dtype=torch.float64))
            h = torch.floor(torch.sqrt(target * aspect) + 0.5).long()  # lround
            w = torch.floor(torch.sqrt(target / aspect) + 0.5).long()
            fits = (h < H) & (w < W)
            first = fits.long().argmax(1)
            on = on & fits.any(1)
            h = h.gather(1, first[:, None])[:, 0]; w = w.gather(1, first[:, None])[:, 0]
            top = (torch.rand(N, generator=g, dtype=torch.float64) * (H - h + 1)).long()
            left = (torch.rand(N, generator=g, dtype=torch.float64) * (W - w + 1)).long()
            r = torch.arange(H)[None, :, None]; c = torch.arange(W)[None, None, :]
            box = ((r >= top[:, None, None]) & (r < (top + h)[:, None, None]) &
                   (c >= left[:, None, None]) & (c < (left + w)[:, None, None]) & on[:, None, None])
            x = x.masked_fill(box[:, None], float(a['value']))
    return x


# ------------------------------------------------------------------------------------------------

def boolean(s):
    if s.lower() in ('true', '1', 'yes'): return True
    if s.lower() in ('false', '0', 'no'): return False
    raise argparse.ArgumentTypeError(f'expected true or false, got {s!r}')


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('recipe', nargs='?', help='a cvtrain recipe YAML (its values become the flags below)')
    ap.add_argument('--print-flags', action='store_true', help='print the recipe as flags and exit')
    ap.add_argument('--yaml-python', default='/usr/bin/python3', help='an interpreter with PyYAML, for the translation')
    ap.add_argument('--describe', action='store_true', help='print parameters and forward MFLOP per image, no training')
    # run settings (not in the recipe)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--channels-last', action='store_true', help='fp32 in channels_last (bf16 is, unless --nchw)')
    ap.add_argument('--nchw', action='store_true', help='bf16 in the default layout')
    ap.add_argument('--compile', action='store_true')
    # the recipe's keys
    ap.add_argument('--model', default='resnet20', choices=MODELS)
    ap.add_argument('--dropout', type=float, default=-1.0)
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--limit', type=int, default=0, help='the first N training images (data.limit_train)')
    ap.add_argument('--limit-test', type=int, default=0, help='the first N test images (data.limit_test)')
    ap.add_argument('--val-fraction', type=float, default=0.0)
    ap.add_argument('--drop-last', type=boolean, default=False)
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--eval-bs', type=int, default=128)
    ap.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    ap.add_argument('--label-smoothing', type=float, default=0.0)
    ap.add_argument('--eval-every', type=int, default=1)
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--dampening', type=float, default=0.0)
    ap.add_argument('--nesterov', type=boolean, default=True)
    ap.add_argument('--weight-decay', type=float, default=5e-4)
    ap.add_argument('--decay-bias-and-norm', type=boolean, default=True)
    ap.add_argument('--pct-start', type=float, default=0.15)
    ap.add_argument('--cycle-momentum', type=boolean, default=True)
    ap.add_argument('--base-momentum', type=float, default=0.85)
    ap.add_argument('--max-momentum', type=float, default=0.95)
    ap.add_argument('--augment', nargs='*', default=[], help="entries 'name:p=P:key=value' (as --print-flags writes)")
    return ap


def parse_args(argv):
    ap = parser()
    a = ap.parse_args(argv)
    if a.print_flags:
        if not a.recipe:
            ap.error('--print-flags needs a RECIPE')
        print(shlex.join(recipe_flags(load_recipe(a.recipe, a.yaml_python))))
        sys.exit(0)
    if a.recipe:  # the recipe's flags first, so that the command line's override them
        a = ap.parse_args(recipe_flags(load_recipe(a.recipe, a.yaml_python)) + argv)
    return a


def evaluate(fwd, model, X, Y, bs, amp, cl):
    model.eval(); correct = 0
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        for k in range(0, len(X), bs):
            x = X[k:k + bs]
            if cl: x = x.contiguous(memory_format=torch.channels_last)
            correct += (fwd(x).argmax(1) == Y[k:k + bs]).sum().item()
    return correct / len(X)


def prepare(x_u8, steps, g, mean, std, cl):
    """x_u8: (N,C,H,W) u8 -> the augmented, normalized batch the model takes."""
    x = augment(x_u8.float() / 255.0, steps, g)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if cl else x


def compile_all_shapes(fwd, model, train_batches, eval_batches, ls, amp, cl):
    """Compiles fwd for every batch of the run's shapes and strides (the batches made as the run makes
    them: a C=1 tensor's strides depend on how it was made, and torch.compile guards on them), then
    restores the weights, batch-norm statistics and RNG."""
    saved, rng = copy.deepcopy(model.state_dict()), torch.get_rng_state()
    t0 = time.perf_counter()
    model.train()
    for x, y in train_batches:
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(fwd(x), y, label_smoothing=ls)
        loss.backward()
    model.zero_grad(set_to_none=True)
    for X, Y, bs in eval_batches:
        evaluate(fwd, model, X, Y, bs, amp, cl)
    model.load_state_dict(saved); torch.set_rng_state(rng)
    return time.perf_counter() - t0


def compiled_graphs():
    """Graphs torch.compile has built so far in this process (a compilation inside the timed epochs shows here)."""
    from torch._dynamo.utils import counters
    return counters['stats']['unique_graphs']


def main(argv):
    try:
        a = parse_args(argv)
        steps = parse_augment(a.augment)
    except Refused as e:
        print(f'torch_recipe.py: {e}', file=sys.stderr)
        return 2
    if a.compile and not hasattr(torch, 'compile'):
        print(f'torch_recipe.py: --compile needs PyTorch 2 (this is {torch.__version__})', file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = build_model(a.model, a.dropout)
    params = sum(p.numel() for p in model.parameters())
    mflop = 2 * forward_macs(model, (1, 28, 28)) / 1e6
    if a.describe:
        print(json.dumps(dict(model=a.model, params=params, forward_mflop_per_image=round(mflop, 1))))
        return 0
    torch.manual_seed(a.seed)
    model = build_model(a.model, a.dropout)

    xtr, ytr = load_idx(f'{a.data}/train-images-idx3-ubyte.gz'), load_idx(f'{a.data}/train-labels-idx1-ubyte.gz')
    xte, yte = load_idx(f'{a.data}/t10k-images-idx3-ubyte.gz'), load_idx(f'{a.data}/t10k-labels-idx1-ubyte.gz')
    if a.limit: xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    if a.limit_test: xte, yte = xte[:a.limit_test], yte[:a.limit_test]
    xva = yva = None
    if a.val_fraction > 0:
        tr, va = hold_out(ytr, a.val_fraction, a.seed)
        xtr, ytr, xva, yva = xtr[tr], ytr[tr], xtr[va], ytr[va]
    # data.preprocess channel: mean and population std of the training split's pixels (one channel), in
    # [0,1] units, from the exact histogram as fit_normalization computes them
    hist = np.bincount(xtr.ravel(), minlength=256).astype(np.float64); v = np.arange(256.0)
    mean = float((hist * v).sum() / hist.sum())
    std = float(math.sqrt((hist * (v - mean) ** 2).sum() / hist.sum())) / 255.0
    mean /= 255.0
    norm = lambda x: ((torch.tensor(x, dtype=torch.float32) / 255.0 - mean) / std).unsqueeze(1)
    Xtr = torch.tensor(xtr).unsqueeze(1)  # (N,1,28,28) u8: converted, augmented and normalized per batch
    Ytr = torch.tensor(ytr, dtype=torch.long)
    Xte, Yte = norm(xte), torch.tensor(yte, dtype=torch.long)
    Xva, Yva = (norm(xva), torch.tensor(yva, dtype=torch.long)) if xva is not None else (None, None)

    amp = a.precision == 'bf16'
    cl = a.channels_last or (amp and not a.nchw)
    if cl: model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model, dynamic=False) if a.compile else model
    if a.decay_bias_and_norm:
        groups = [{'params': list(model.parameters())}]
    else:  # no decay on biases and norm scales/shifts (1-D parameters)
        groups = [{'params': [p for p in model.parameters() if p.dim() > 1]},
                  {'params': [p for p in model.parameters() if p.dim() <= 1], 'weight_decay': 0.0}]
    opt = torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum, dampening=a.dampening, nesterov=a.nesterov,
                          weight_decay=a.weight_decay)
    n = len(Xtr)
    batches = n // a.bs if a.drop_last else (n + a.bs - 1) // a.bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs * batches, pct_start=a.pct_start,
                                                cycle_momentum=a.cycle_momentum, base_momentum=a.base_momentum,
                                                max_momentum=a.max_momentum)
    compile_s = None
    if a.compile:
        gw = torch.Generator().manual_seed(a.seed + 2)
        sizes = [a.bs] + ([n % a.bs] if n % a.bs and not a.drop_last else [])
        train_batches = [(prepare(Xtr[torch.arange(k)], steps, gw, mean, std, cl), Ytr[:k]) for k in sizes if k <= n]
        eval_batches = []  # the first batch and the last, partial one of each split
        for X, Y in ((Xva, Yva), (Xte, Yte)):
            if X is not None:
                tail = len(X) % a.eval_bs
                eval_batches += [(X[:a.eval_bs], Y[:a.eval_bs], a.eval_bs)] + \
                                ([(X[len(X) - tail:], Y[len(X) - tail:], a.eval_bs)] if tail else [])
        compile_s = compile_all_shapes(fwd, model, train_batches, eval_batches, a.label_smoothing, amp, cl)
        graphs = compiled_graphs()

    g = torch.Generator().manual_seed(a.seed + 1)  # shuffling and augmentation
    t_train, hist = 0.0, []
    for ep in range(1, a.epochs + 1):
        model.train()
        t0 = time.perf_counter(); seen = 0
        perm = torch.randperm(n, generator=g)
        for k in range(0, batches * a.bs, a.bs):
            idx = perm[k:k + a.bs]
            x = prepare(Xtr[idx], steps, g, mean, std, cl)
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(fwd(x), Ytr[idx], label_smoothing=a.label_smoothing)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step(); seen += len(idx)
        dt = time.perf_counter() - t0; t_train += dt
        if ep % a.eval_every and ep != a.epochs:
            continue
        row = dict(epoch=ep, train_s=round(dt, 3), cum_train_s=round(t_train, 3), train_img_s=round(seen / dt, 1))
        if Xva is not None:
            row['val_acc'] = evaluate(fwd, model, Xva, Yva, a.eval_bs, amp, cl)
        row['test_acc'] = evaluate(fwd, model, Xte, Yte, a.eval_bs, amp, cl)
        hist.append(row)
        print(json.dumps(row), flush=True)
    summary = dict(model=a.model, recipe=a.recipe, precision=a.precision, channels_last=cl, compile=a.compile,
                   threads=a.threads, epochs=a.epochs, train_images=n, val_images=0 if Xva is None else len(Xva),
                   test_images=len(Xte), params=params, forward_mflop_per_image=round(mflop, 1),
                   total_train_s=round(t_train, 2), final_acc=hist[-1]['test_acc'], torch=torch.__version__)
    if compile_s is not None:
        summary['compile_s'] = round(compile_s, 2)
        summary['graphs_compiled_after_warmup'] = compiled_graphs() - graphs  # 0: compilation all in compile_s
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
