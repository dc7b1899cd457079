"""Runs ONNX files written by export_zoo_onnx in PyTorch and compares the logits with cvtrain's.

Each node of the graph maps to one torch.nn.functional call (the table OPS below), so PyTorch
computes the exported graph with its own kernels: a check of the file's meaning independent of
OpenCV. Test-time only; exits 77 (skip) without torch or onnx.
    /usr/bin/python3 onnx_torch_run.py DIR [TOL]
"""
import sys

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b=None, a=None):
    p = a.get("pads", [0, 0, 0, 0])
    assert p[0] == p[2] and p[1] == p[3], "asymmetric pads"
    return F.conv2d(x, w, b, stride=a.get("strides", 1), padding=p[:2], dilation=a.get("dilations", 1),
                    groups=a.get("group", 1))


def gemm(x, w, b=None, a=None):
    assert a.get("transB", 0) == 1 and a.get("transA", 0) == 0
    return F.linear(x, w, b)


def maxpool(x, a):
    p = a.get("pads", [0, 0, 0, 0])
    return F.max_pool2d(x, a["kernel_shape"], a.get("strides", a["kernel_shape"]), p[:2])


OPS = {
    "Sub": lambda a, x, y: x - y,
    "Div": lambda a, x, y: x / y,
    "Mul": lambda a, x, y: x * y,
    "Add": lambda a, x, y: x + y,
    "Conv": lambda a, *xs: conv(*xs, a=a),
    "BatchNormalization": lambda a, x, g, b, m, v: F.batch_norm(x, m, v, g, b, False, 0.0, a.get("epsilon", 1e-5)),
    "Gemm": lambda a, *xs: gemm(*xs, a=a),
    "MaxPool": lambda a, x: maxpool(x, a),
    "Flatten": lambda a, x: torch.flatten(x, a.get("axis", 1)),
    "GlobalAveragePool": lambda a, x: F.adaptive_avg_pool2d(x, 1),
    "Reshape": lambda a, x, s: x.reshape([int(d) for d in s]),
    "Relu": lambda a, x: F.relu(x),
    "Sigmoid": lambda a, x: torch.sigmoid(x),
    "Tanh": lambda a, x: torch.tanh(x),
    "LeakyRelu": lambda a, x: F.leaky_relu(x, a.get("alpha", 0.01)),
    "PRelu": lambda a, x, s: torch.where(x >= 0, x, x * s),
    "Elu": lambda a, x: F.elu(x, a.get("alpha", 1.0)),
    "Selu": lambda a, x: F.selu(x),
    "Erf": lambda a, x: torch.erf(x),
}


def run(model, x):
    env = {"input": x}
    for t in model.graph.initializer:
        env[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())
    for node in model.graph.node:
        if node.op_type not in OPS:
            raise RuntimeError(f"node {node.name}: op {node.op_type} not in this runner's table")
        env[node.output[0]] = OPS[node.op_type](attrs(node), *[env[i] for i in node.input if i])
    return env["logits"]


def main():
    d = sys.argv[1]
    tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-4
    failures = cases = 0
    for line in open(f"{d}/manifest.txt"):
        name, n, c, h, w, k = line.split()
        n, c, h, w, k = map(int, (n, c, h, w, k))
        cases += 1
        x = torch.from_numpy(np.fromfile(f"{d}/{name}.input.f32", dtype=np.float32).reshape(n, c, h, w))
        ref = np.fromfile(f"{d}/{name}.logits.f32", dtype=np.float32).reshape(n, k)
        try:
            with torch.no_grad():
                y = run(onnx.load(f"{d}/{name}.onnx"), x).numpy()
            worst = float(np.abs(y - ref).max())
            scale = max(1.0, float(np.abs(ref).max()))
            ok = worst <= tol * scale
            print(f"{'ok  ' if ok else 'FAIL'} {name:32s} max |difference| {worst:.3g} (max |logit| {scale:.3g})")
        except Exception as e:  # noqa: BLE001 - report and go on
            ok = False
            print(f"FAIL {name:32s} {e}")
        failures += not ok
    print(f"{cases - failures} of {cases} ONNX files agree with cvtrain in PyTorch {torch.__version__}")
    sys.exit(0 if failures == 0 and cases > 0 else 1)


if __name__ == "__main__":
    main()
