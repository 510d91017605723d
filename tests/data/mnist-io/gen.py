#!/usr/bin/env python3
"""Input and ONNX Runtime output for ../shared/models/mnist-float.onnx, used by
test-faults.c and test-concurrency.c (the output is the independent
reference). Re-run: python3 tests/data/mnist-io/gen.py [SHARED_DIR]"""
import os
import sys

import numpy as np
import onnxruntime as ort
from onnx import numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../../shared")
model = os.path.join(shared, "models/mnist-float.onnx")
# a real digit from ../shared/data/mnist when present, else a fixed pattern
x = np.zeros((1, 1, 28, 28), np.float32)
x[0, 0, 4:24, 12:16] = 1.0  # a stroke: roughly a "1"
x[0, 0, 6:8, 10:13] = 0.7
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
with open(os.path.join(here, "input_0.pb"), "wb") as f:
    f.write(numpy_helper.from_array(x, sess.get_inputs()[0].name).SerializeToString())
with open(os.path.join(here, "output_0.pb"), "wb") as f:
    f.write(numpy_helper.from_array(y, sess.get_outputs()[0].name).SerializeToString())
print("argmax", int(y.argmax()), y)
