#!/usr/bin/env python3
"""Offline check (not part of CTest: needs onnxruntime): `qlinear annotate`
output still loads and runs in ONNX Runtime with outputs identical to the
original model's. Usage:

    python3 tests/data/verify/check_ort.py build-x/qlinear [MODEL.onnx ...]

Without models: every tests/data/verify/good/*.onnx plus the quantized real
models in ../shared/models. Prints one line per model and exits 1 on any
difference. Results are recorded in docs/verify.md."""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8,
      "tensor(int8)": np.int8, "tensor(int32)": np.int32, "tensor(int64)": np.int64}


def feeds(sess, rng):
    out = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        t = NP[i.type]
        if np.issubdtype(t, np.integer):
            info = np.iinfo(t)
            out[i.name] = rng.integers(max(info.min, -128), min(info.max, 255) + 1, size=shape).astype(t)
        else:
            out[i.name] = rng.uniform(-2, 2, size=shape).astype(t)
    return out


def main():
    qlinear = sys.argv[1]
    models = sys.argv[2:] or sorted(glob.glob(os.path.join(HERE, "good", "*.onnx"))) + [
        os.path.join(HERE, "..", "..", "..", "..", "shared", "models", m)
        for m in ("nanodet-plus-int8.onnx", "retinaface-qdq.onnx")]
    failed = 0
    so = ort.SessionOptions()
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        for m in models:
            name = os.path.basename(m)
            out = os.path.join(tmp, name)
            subprocess.run([qlinear, "annotate", m, out], check=True, capture_output=True)
            n_ann = len(onnx.load(out).graph.quantization_annotation)
            try:
                s0 = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
            except Exception as e:  # the original itself does not run in ORT
                print(f"SKIP {name}: ONNX Runtime cannot run the original: {str(e).splitlines()[0][:120]}")
                continue
            s1 = ort.InferenceSession(out, so, providers=["CPUExecutionProvider"])
            f = feeds(s0, np.random.default_rng(1))
            r0, r1 = s0.run(None, f), s1.run(None, f)
            same = all(a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
                       for a, b in zip(r0, r1))
            print(f"{'PASS' if same else 'FAIL'} {name}: {n_ann} annotations, {len(r0)} outputs "
                  f"{'identical' if same else 'DIFFER'}")
            failed += not same
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
