"""ONNX Runtime on a graph exported by `cvtrain export --format onnx`, against `cvtrain predict --json`
on the same image files: each file is prepared with Pillow as the graph's metadata_props say
(cvtrain.image_transform: convert to the channels, Resize + CenterCrop as torchvision does on PIL
images), scaled to [0,1] and run; logits and probabilities must agree within TOL (default 1e-4).
Inputs predict could not read are skipped. Exits 77 without onnxruntime, numpy or Pillow.
    PYTHON onnx_ort_predict.py MODEL.onnx PREDICT.json [TOL]
"""
import json
import math
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

model_path, json_path = sys.argv[1], sys.argv[2]
tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
meta = {p.key: p.value for p in onnx.load(model_path).metadata_props}
spec = json.loads(meta["cvtrain.image_transform"])


def prepare(path):
    img = Image.open(path)
    img = img.convert("RGB" if spec["channels"] == 3 else "L")
    size = spec["image_size"]
    if len(size) == 2:  # torchvision Resize((h, w)) on a PIL image
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    elif len(size) == 1:  # Resize(floor(S / crop_fraction)) + CenterCrop(S)
        s = size[0]
        short_to = math.floor(s / spec["crop_fraction"])
        w, h = img.size
        if w <= h:
            new = (short_to, int(short_to * h / w))
        else:
            new = (int(short_to * w / h), short_to)
        if new != (w, h):
            img = img.resize(new, Image.BILINEAR)
        w, h = img.size
        top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
        img = img.crop((left, top, left + s, top + s))
    a = np.asarray(img, dtype=np.float32) / 255.0
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


preds = json.load(open(json_path))["predictions"]
files = [p for p in preds if ":" not in p["input"]]
x = np.stack([prepare(p["input"]) for p in files])
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
logits = session.run(["logits"], {"input": x})[0]
want = np.array([p["logits"] for p in files], dtype=np.float64)
d_logits = float(np.abs(logits - want).max())


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


d_probs = float(np.abs(softmax(logits.astype(np.float64)) - softmax(want)).max())
print(f"onnxruntime {ort.__version__} vs cvtrain predict on {len(files)} files: max |logit diff| {d_logits:.3g}, "
      f"max |prob diff| {d_probs:.3g} (tolerance {tol:g})")
sys.exit(0 if len(files) > 0 and d_logits <= tol and d_probs <= tol else 1)
