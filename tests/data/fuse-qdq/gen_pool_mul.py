"""Fixture for tests/unit/test-fuse-qdq.c (test_pool_mul; run from anywhere,
writes next to this file). Needs onnx, onnxruntime and numpy.

pool-mul.onnx, QDQ by hand (uint8 activations, per-tensor, opset 13):
  x -> Q -> DQ -> GlobalAveragePool -> Q -> DQ -> g      [1, 6, 1, 1]
          DQ -> AveragePool(3x3, stride 2, pad 1) -> Q -> DQ -> a   [1, 6, 5, 5]
  Mul(a, g) -> Q -> DQ -> y                               (broadcast)
ONNX Runtime (all optimizations) fuses them into com.microsoft
QLinearGlobalAveragePool, QLinearAveragePool and QLinearMul (checked below);
pool-mul.output.pb is what it computes for pool-mul.input.pb.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort

here = os.path.dirname(os.path.abspath(__file__))


def const(name, v, dt):
    return numpy_helper.from_array(np.array(v, dtype=dt), name)


def model():
    inits = [const("xs", 0.031, np.float32), const("xz", 121, np.uint8),
             const("gs", 0.011, np.float32), const("gz", 97, np.uint8),
             const("as", 0.017, np.float32), const("az", 130, np.uint8),
             const("ys", 0.0023, np.float32), const("yz", 111, np.uint8)]
    n = helper.make_node
    nodes = [
        n("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        n("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        n("GlobalAveragePool", ["xd"], ["gp"]),
        n("QuantizeLinear", ["gp", "gs", "gz"], ["gq"]),
        n("DequantizeLinear", ["gq", "gs", "gz"], ["gd"]),
        n("AveragePool", ["xd"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("QuantizeLinear", ["ap", "as", "az"], ["aq"]),
        n("DequantizeLinear", ["aq", "as", "az"], ["ad"]),
        n("Mul", ["ad", "gd"], ["m"]),
        n("QuantizeLinear", ["m", "ys", "yz"], ["yq"]),
        n("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
    ]
    g = helper.make_graph(nodes, "pool_mul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 9, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 5, 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def main():
    path = os.path.join(here, "pool-mul.onnx")
    onnx.save(model(), path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opt = os.path.join(here, "pool-mul.ort-optimized.onnx")
    so.optimized_model_filepath = opt
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    fused = sorted(nd.op_type for nd in onnx.load(opt).graph.node)
    os.remove(opt)
    print("ORT runs:", fused)
    for op in ("QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearMul"):
        assert op in fused, op
    # this input makes ORT's fused integer arithmetic differ from the float graph in two bytes
    x = np.random.default_rng(4).uniform(-1, 1, (1, 6, 9, 9)).astype(np.float32)
    y = s.run(None, {"x": x})[0]
    for name, arr, tname in (("input", x, "x"), ("output", y, "y")):
        with open(os.path.join(here, f"pool-mul.{name}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, tname).SerializeToString())


if __name__ == "__main__":
    main()
