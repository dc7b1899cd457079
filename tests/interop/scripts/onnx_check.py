"""The ONNX checker (python3-onnx) over every .onnx file of a folder, full_check (shape inference)
included; also that the opset is 13 and the first node reads the graph input. Exits 77 without onnx.
    /usr/bin/python3 onnx_check.py DIR
"""
import glob
import sys

try:
    import onnx
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

failures = 0
files = sorted(glob.glob(f"{sys.argv[1]}/*.onnx"))
for path in files:
    try:
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        assert [o.version for o in m.opset_import] == [13], m.opset_import
        assert m.graph.node[0].input[0] == "input", m.graph.node[0]
        assert [o.name for o in m.graph.output] == ["logits"]
    except Exception as e:  # noqa: BLE001
        failures += 1
        print(f"FAIL {path}: {e}")
print(f"onnx {onnx.__version__} checker: {len(files) - failures} of {len(files)} files pass")
sys.exit(0 if failures == 0 and files else 1)
