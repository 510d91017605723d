#!/usr/bin/env python3
"""Offline check that models saved by qlinear load in ONNX Runtime and give
the same outputs as the originals. Not run by CTest (tests need no Python);
its results are recorded in docs/security.md.

  QL_RESAVE_DIR=/tmp/resaved build/tests/test-loader      # writes the copies
  python3 tests/data/roundtrip/ort_check.py /tmp/resaved [SHARED_DIR]

For every copy, the original (a node test's model.onnx or a shared model) and
the copy run in ORT on the same inputs (the node test's own inputs, or fixed
random ones shaped from the declared input, symbolic dims = 1) and must give
bit-identical outputs. Models ORT itself cannot run are counted separately.
"""
import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ort.set_default_logger_severity(3)
resaved = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../../../shared")
node = os.path.join(shared, "onnx-node-tests/node")

TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
         "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(float16)": np.float16,
         "tensor(bool)": np.bool_, "tensor(double)": np.float64}


def feeds_for(sess, original):
    name = os.path.basename(original)
    data = os.path.join(os.path.dirname(original), "test_data_set_0")
    if name == "model.onnx" and os.path.isdir(data):
        feeds = {}
        for i, inp in enumerate(sess.get_inputs()):
            p = os.path.join(data, "input_%d.pb" % i)
            t = onnx.TensorProto()
            with open(p, "rb") as f:
                t.ParseFromString(f.read())
            feeds[inp.name] = numpy_helper.to_array(t)
        return feeds
    rng = np.random.RandomState(0)
    feeds = {}
    for inp in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        if "ppocr-v4-det" in original:
            shape = [1, 3, 64, 64]
        dt = TYPES.get(inp.type, np.float32)
        feeds[inp.name] = (rng.rand(*shape) * 2 - 1).astype(dt) if dt != np.bool_ else rng.rand(*shape) > 0.5
    return feeds


same = differ = ort_fails = 0
for copy in sorted(glob.glob(os.path.join(resaved, "*.onnx"))):
    label = os.path.basename(copy)[:-5]
    original = os.path.join(node, label, "model.onnx")
    if not os.path.exists(original):
        original = os.path.join(shared, "models", label + ".onnx")
    try:
        s0 = ort.InferenceSession(original, providers=["CPUExecutionProvider"])
        feeds = feeds_for(s0, original)
        o0 = s0.run(None, feeds)
    except Exception:
        ort_fails += 1  # ORT (or numpy) cannot run the original either
        continue
    try:
        s1 = ort.InferenceSession(copy, providers=["CPUExecutionProvider"])
        o1 = s1.run(None, feeds)
    except Exception as e:
        print("FAIL %s: %s" % (label, str(e).splitlines()[0][:200]))
        differ += 1
        continue
    ok = len(o0) == len(o1) and all(
        a.shape == b.shape and a.dtype == b.dtype and (a.tobytes() == b.tobytes() or
                                                       (a.dtype == object and list(a.flat) == list(b.flat)))
        for a, b in zip(o0, o1) if isinstance(a, np.ndarray))
    if ok:
        same += 1
    else:
        differ += 1
        print("DIFF %s" % label)
print("ORT round trip: %d identical, %d different or failing, %d skipped (ORT cannot run the original)"
      % (same, differ, ort_fails))
sys.exit(1 if differ else 0)
