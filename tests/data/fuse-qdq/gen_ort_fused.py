"""Fixtures for tests/unit/test-fuse-qdq.c (test_pool_mul, test_gemm; run from anywhere,
writes next to this file). Needs onnx, onnxruntime and numpy.

pool-mul.onnx, QDQ by hand (uint8 activations, per-tensor, opset 13):
  x -> Q -> DQ -> GlobalAveragePool -> Q -> DQ -> g      [1, 6, 1, 1]
          DQ -> AveragePool(3x3, stride 2, pad 1) -> Q -> DQ -> a   [1, 6, 5, 5]
  Mul(a, g) -> Q -> DQ -> y                               (broadcast)
ONNX Runtime (all optimizations) fuses them into com.microsoft
QLinearGlobalAveragePool, QLinearAveragePool and QLinearMul (checked below);
pool-mul.output.pb is what it computes for pool-mul.input.pb.

gemm.onnx: x [3, 40] -> Q -> DQ -> Gemm(DQ(int8 W [24, 40], per-row scales),
transB=1, DQ(int32 bias at x_scale * w_scale)) -> Q -> DQ -> y; ORT fuses it into
QGemm; gemm.output.pb is its output for gemm.input.pb.
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


def gemm_model():
    rng = np.random.default_rng(3)
    xs, ys = np.float32(0.02), np.float32(0.05)
    ws = (rng.uniform(0.002, 0.01, 24)).astype(np.float32)
    w = rng.integers(-127, 128, (24, 40), dtype=np.int8)
    b = rng.integers(-3000, 3000, 24, dtype=np.int32)
    inits = [const("xs", xs, np.float32), const("xz", 117, np.uint8), const("ys", ys, np.float32),
             const("yz", 128, np.uint8), numpy_helper.from_array(w, "w"), numpy_helper.from_array(ws, "ws"),
             const("wz", np.zeros(24), np.int8), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array((xs * ws).astype(np.float32), "bs"), const("bz", np.zeros(24), np.int32)]
    n = helper.make_node
    nodes = [
        n("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        n("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        n("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
        n("DequantizeLinear", ["b", "bs", "bz"], ["bd"], axis=0),
        n("Gemm", ["xd", "wd", "bd"], ["g"], transB=1),
        n("QuantizeLinear", ["g", "ys", "yz"], ["gq"]),
        n("DequantizeLinear", ["gq", "ys", "yz"], ["y"]),
    ]
    g = helper.make_graph(nodes, "gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 40])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 24])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def fixture(name, m, want_ops, x):
    path = os.path.join(here, f"{name}.onnx")
    onnx.save(m, path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opt = os.path.join(here, f"{name}.ort-optimized.onnx")
    so.optimized_model_filepath = opt
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    fused = sorted(nd.op_type for nd in onnx.load(opt).graph.node)
    os.remove(opt)
    print(name, "ORT runs:", fused)
    for op in want_ops:
        assert op in fused, op
    y = s.run(None, {"x": x})[0]
    for kind, arr, tname in (("input", x, "x"), ("output", y, "y")):
        with open(os.path.join(here, f"{name}.{kind}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, tname).SerializeToString())


def main():
    # this input makes ORT's fused integer pooling differ from the float graph in two bytes
    fixture("pool-mul", model(), ["QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearMul"],
            np.random.default_rng(4).uniform(-1, 1, (1, 6, 9, 9)).astype(np.float32))
    fixture("gemm", gemm_model(), ["QGemm"], np.random.default_rng(9).uniform(-2, 2, (3, 40)).astype(np.float32))


if __name__ == "__main__":
    main()
