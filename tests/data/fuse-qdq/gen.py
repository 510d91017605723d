"""Fixtures for tests/unit/test-fuse-qdq.c (run from anywhere; writes next to
this file). Needs onnx, onnxruntime and numpy; the test itself does not.

perchannel-conv.onnx: a small float CNN (Conv -> Relu, depthwise Conv ->
LeakyRelu, Conv, Concat, Add, Resize, MaxPool) quantized by ONNX Runtime's
quantize_static in QDQ format with per-channel int8 weights: per-axis weight
DequantizeLinear nodes, int32 biases at x_scale * w_scale[m], DQ nodes with
several readers (the shape that made fuse.c read freed DQ nodes, commit
105d5a6). perchannel-conv.input.pb is a deterministic input,
perchannel-conv.output.pb what ONNX Runtime (all optimizations) computes.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


def w(*shape, s=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32))


def float_model():
    inits, nodes = [], []

    def init(name, t):
        t.name = name
        inits.append(t)
        return name

    init("w1", w(8, 3, 3, 3)); init("b1", w(8))
    init("w2", w(8, 1, 3, 3)); init("b2", w(8))
    init("w3", w(8, 8, 1, 1)); init("b3", w(8))
    init("w4", w(8, 8, 3, 3, s=0.1)); init("b4", w(8))
    init("scales", numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32)))
    init("roi", numpy_helper.from_array(np.array([], np.float32)))
    nodes += [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=8),
        helper.make_node("LeakyRelu", ["c2"], ["r2"], alpha=0.1),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"]),
        helper.make_node("Add", ["c3", "r1"], ["a3"]),
        helper.make_node("MaxPool", ["a3"], ["p3"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", ["p3", "roi", "scales"], ["u3"], mode="nearest"),
        helper.make_node("Conv", ["u3", "w4", "b4"], ["c4"], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["c4", "r2"], ["y"], axis=1),
    ]
    g = helper.make_graph(nodes, "perchannel", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


class Reader(CalibrationDataReader):
    def __init__(self):
        self.data = [{"x": rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)} for _ in range(8)]

    def get_next(self):
        return self.data.pop() if self.data else None


def main():
    fp = os.path.join(here, "perchannel-conv.float.onnx")
    out = os.path.join(here, "perchannel-conv.onnx")
    onnx.save(float_model(), fp)
    quantize_static(fp, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    os.remove(fp)
    x = np.random.default_rng(11).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    y = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for name, arr, tname in (("input", x, "x"), ("output", y, "y")):
        t = numpy_helper.from_array(arr, tname)
        with open(os.path.join(here, f"perchannel-conv.{name}.pb"), "wb") as f:
            f.write(t.SerializeToString())


if __name__ == "__main__":
    main()
