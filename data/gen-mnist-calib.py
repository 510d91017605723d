#!/usr/bin/env python3
"""Writes data/mnist-calib/<k>/input_0.pb: 200 real MNIST digits (every 50th of
../shared/data/mnist, which is grouped by class, so all ten digits appear) as
float32 [1,1,28,28] TensorProtos with the raw 0..255 pixel values that
mnist-float.onnx expects. Used by `make demo` as the calibration set."""
import os, numpy as np
from onnx import numpy_helper
here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "..", "..", "shared", "data", "mnist", "images-u8-28x28.bin")
img = np.fromfile(src, dtype=np.uint8).reshape(-1, 1, 1, 28, 28)
for k, i in enumerate(range(0, 10000, 50)):
    d = os.path.join(here, "mnist-calib", "%03d" % k)
    os.makedirs(d, exist_ok=True)
    t = numpy_helper.from_array(img[i].astype(np.float32), "Input3")
    open(os.path.join(d, "input_0.pb"), "wb").write(t.SerializeToString())
print("wrote", k + 1, "samples")
