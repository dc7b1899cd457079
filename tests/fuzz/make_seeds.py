#!/usr/bin/env python3
"""Writes the small seed files under tests/fuzz/corpus/<target>/ (run once; the files are committed).
Uses /usr/bin/python3 for PIL (the JPEG and palette PNG seeds); everything else is the standard library."""
import gzip, io, json, os, struct, sys, zlib

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.dirname(os.path.dirname(here))

def put(target, name, data):
    d = os.path.join(here, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), 'wb').write(data)

def idx(magic, dims, payload):
    return struct.pack('>I', magic) + b''.join(struct.pack('>I', x) for x in dims) + payload

# IDX: labels, a few 4x4 images, a 3-D and a 4-D file; raw and gzip.
labels = idx(0x801, [6], bytes([0, 1, 2, 3, 4, 9]))
images = idx(0x803, [2, 4, 4], bytes(range(32)))
four = idx(0x804, [1, 2, 2, 2], bytes(range(8)))
for n, b in [('labels', labels), ('images', images), ('four', four), ('empty', idx(0x801, [0], b''))]:
    put('idx', n + '.idx', b)
    put('idx', n + '.idx.gz', gzip.compress(b, mtime=0))
    put('idx_gz', n + '.idx', b)

# CIFAR: first byte 0 -> CIFAR-10 (1+3072 bytes per record), 1 -> CIFAR-100 (2+3072).
put('cifar', 'c10_one', b'\x00' + bytes([3]) + bytes(i % 251 for i in range(3072)))
put('cifar', 'c100_one', b'\x01' + bytes([4, 57]) + bytes(i % 13 for i in range(3072)))

# Images: PNGs of each colour type, and JPEGs (gray, colour, progressive).
def png(w, h, color_type, bit_depth, rows, plte=None, trns=None):
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    raw = b''.join(b'\x00' + r for r in rows)
    out = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, bit_depth, color_type, 0, 0, 0))
    if plte: out += chunk(b'PLTE', plte)
    if trns: out += chunk(b'tRNS', trns)
    return out + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
put('image', 'gray.png', png(3, 2, 0, 8, [bytes([0, 128, 255]), bytes([1, 2, 3])]))
put('image', 'rgb.png', png(2, 2, 2, 8, [bytes(range(6)), bytes(range(6, 12))]))
put('image', 'rgba.png', png(2, 1, 6, 8, [bytes(range(8))]))
put('image', 'gray16.png', png(2, 1, 0, 16, [bytes([0, 1, 255, 254])]))
put('image', 'palette.png', png(4, 1, 3, 2, [bytes([0b00011011])], plte=bytes(range(12)), trns=b'\x80'))
put('image', 'bits1.png', png(9, 1, 0, 1, [bytes([0xAA, 0x80])]))
try:
    from PIL import Image
    for mode, name, kw in [('L', 'gray.jpg', {}), ('RGB', 'rgb.jpg', {}), ('RGB', 'prog.jpg', {'progressive': True}),
                           ('RGB', 'sub444.jpg', {'subsampling': 0})]:
        im = Image.new(mode, (9, 7))
        im.putdata([((x * 29 + y * 7) % 256) if mode == 'L' else ((x * 29) % 256, (y * 37) % 256, 90)
                    for y in range(7) for x in range(9)])
        b = io.BytesIO(); im.save(b, 'JPEG', quality=80, **kw); put('image', name, b.getvalue())
except ImportError:
    print('no PIL: JPEG seeds skipped', file=sys.stderr)

# Configs: the recipes, plus a few edge shapes.
for f in sorted(os.listdir(os.path.join(src, 'recipes'))):
    if f.endswith('.yaml'):
        put('config', f, open(os.path.join(src, 'recipes', f), 'rb').read())
put('config', 'augment.yaml', b'data:\n  augment:\n    - {name: hflip, p: 0.5}\n    - {name: random_crop, size: 28, padding: 4}\n')
put('config', 'flow.yaml', b'{train: {epochs: 2, batch_size: 8}, optim: {name: adam, lr: 1e-3}}\n')
put('config', 'empty.yaml', b'')

# safetensors: two tensors and metadata, an empty tensor, every dtype.
def st(tensors, meta=None):
    header, blob = {}, b''
    if meta: header['__metadata__'] = meta
    for name, dtype, shape, data in tensors:
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + blob
put('safetensors', 'two.safetensors', st([('w', 'F32', [2, 2], struct.pack('<4f', 1, 2, 3, 4)), ('b', 'I64', [1], struct.pack('<q', 7))], {'k': 'v'}))
put('safetensors', 'dtypes.safetensors', st([('a', 'U8', [3], b'abc'), ('b', 'BF16', [1], b'\x80\x3f'), ('c', 'I32', [0, 4], b'')]))
put('safetensors', 'tiny.safetensors', open(os.path.join(src, 'tests/fixtures/tiny.safetensors'), 'rb').read())

# Checkpoints and model files: small, with the metadata the program writes (weights need not match).
def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff
def checkpoint(tensors, meta):
    meta = dict(meta, **{'cvtrain.checkpoint': '1'})
    crc = 0
    for name, _, _, data in sorted(tensors, key=lambda t: 0):  # file order = the order written
        crc = crc32c(name.encode(), crc); crc = crc32c(data, crc)
    for k in sorted(meta):
        crc = crc32c(k.encode(), crc); crc = crc32c(meta[k].encode(), crc)
    meta['checksum'] = '%08x' % crc
    return st(tensors, meta)
state = {'epoch': 2, 'batches_done': 3, 'step': 7, 'rng_epoch_start': [1, 0, 5], 'rng_now': [1, 0, 9],
         'loss_sum': 1.5, 'correct': 3, 'seen': 4, 'nonfinite_skipped': 0, 'best_acc': 0.5, 'best_epoch': 1,
         'evals_since_best': 0, 'history': [{'epoch': 1, 'test_acc': 0.5}]}
ck_tensors = [('model.net.1.weight', 'F32', [2, 2], struct.pack('<4f', 1, 2, 3, 4)),
              ('optim.m', 'F32', [2], struct.pack('<2f', 0.5, 0.25)), ('ema', 'F32', [1], struct.pack('<f', 3))]
put('checkpoint', 'small.safetensors', checkpoint(ck_tensors, {'train_state': json.dumps(state),
    'optim_counters': json.dumps({'t': 7}), 'config': 'seed: 3\n'}))
put('checkpoint', 'bare.safetensors', checkpoint([], {'train_state': json.dumps(state), 'optim_counters': '{}'}))
model_meta = {'format': 'cvtrain-model-1', 'config': 'model:\n  name: mlp\ntrain:\n  epochs: 1\n',
              'preprocess': json.dumps({'mean': [0.286], 'std': [0.353]})}
put('model_file', 'small.safetensors', st([('net.1.weight', 'F32', [2, 2], struct.pack('<4f', 1, 2, 3, 4))], model_meta))
import base64
fit = {'mode': 'mean_image', 'components': 0, 'epsilon': 0.1, 'shape': [1, 2, 2],
       'mean': base64.b64encode(struct.pack('<4f', 1, 2, 3, 4)).decode(), 'scale': base64.b64encode(struct.pack('<f', 2)).decode(),
       'matrix': ''}
put('model_file', 'fitted.safetensors', st([], dict(model_meta, preprocess_fit=json.dumps(fit))))

# run_history: metrics.jsonl rows (test_* only; with a validation split's val_* and EMA columns; an
# unevaluated epoch and a diverged one), steps.jsonl rows, a diagnostics.jsonl line.
def rows(items):
    return ''.join(json.dumps(r) + '\n' for r in items).encode()
epoch = lambda e, **kw: dict({'epoch': e, 'step': 10 * e, 'train_loss': 1.0 / e, 'train_acc': 0.5 + 0.1 * e, 'lr': 0.1,
                              'images_per_s': 1000.0, 'seconds': 1.5, 'data_wait_s': 0.01}, **kw)
put('run_history', 'metrics_test.jsonl', rows([epoch(1, test_loss=0.9, test_acc=0.6), epoch(2, test_loss=None, test_acc=None),
                                               epoch(3, test_loss=0.7, test_acc=0.7), epoch(4, train_loss=None, test_acc=0.1, test_loss=9.0)]))
put('run_history', 'metrics_val.jsonl', rows([epoch(e, val_loss=0.8, val_acc=0.6 + 0.05 * e, test_loss=0.85, test_acc=0.6,
                                                     ema_val_loss=0.75, ema_val_acc=0.7) for e in (1, 2, 3, 4, 5)]))
put('run_history', 'steps.jsonl', rows([{'step': 2 * i, 'epoch': 1 + i // 5, 'loss': 2.3 / i, 'lr': 0.1, 'grad_norm': 1.5,
                                         'images_per_s': 900.0} for i in range(1, 10)]))
put('run_history', 'diagnostics.jsonl', rows([{'step': 8, 'loss': 1.2, 'layers': [{'name': 'net.0', 'act_mean': 0.1, 'act_std': 0.9,
    'frac_zero': 0.0, 'frac_saturated': 0.0, 'grad_std': 1e-3}], 'update_ratio': {'net.0.weight': 1e-3}, 'warnings': ['w']}]))
