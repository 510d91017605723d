#!/usr/bin/env python3
"""Builds the benchmark models (onnx helper API) into a cache directory and
writes DIR/manifest.json, which bench/compare.py reads.

  python3 bench/gen_models.py --out DIR [--force]

Cases (weights random with a fixed seed; uint8 activations with zero point
128, int8 weights symmetric, i.e. zero point 0, per output channel scales for
convolutions):
  qlmm-*    QLinearMatMul u8 x s8 -> u8
  mmi-*     MatMulInteger u8 x s8 -> int32
  dyn-*     DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul (float in,
            float out: the pattern of onnxruntime.quantization's dynamic mode)
  qlconv-*  QLinearConv u8 x s8 -> u8, int32 bias
  qdqconv-* DQ -> Conv -> Q (u8 activations, s8 weights, int32 bias)
  nbits-*   com.microsoft MatMulNBits, 4-bit, block 32, no zero points
            (default 8), accuracy_level 4 (int8 compute: the int8 path of both
            runtimes)
  nanodet-plus-int8, retinaface-qdq: the real models in ../shared/models
  identity: one float Identity, to measure per-call overhead
Files already present are kept unless --force (generation is deterministic).
"""
import argparse
import json
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GEN_VERSION = 1
OPSET = 21
MM_SHAPES = [(1, 4096, 4096), (128, 768, 768), (512, 1024, 1024), (1024, 1024, 1024)]
# name, Cin, Cout, k, stride, group, H=W (input)
CONV_SHAPES = [
    ("1x1-256-64-56", 256, 64, 1, 1, 1, 56),
    ("3x3-64-64-56", 64, 64, 3, 1, 1, 56),
    ("3x3s2-128-128-56", 128, 128, 3, 2, 1, 56),
    ("dw3x3-144-56", 144, 144, 3, 1, 144, 56),
    ("7x7s2-3-64-224", 3, 64, 7, 2, 1, 224),
]
NBITS_SHAPES = [(1, 4096, 4096), (128, 4096, 4096)]
REAL_MODELS = ["nanodet-plus-int8.onnx", "retinaface-qdq.onnx"]

A_SCALE, A_ZP = 0.02, 128
A_STD = 74.0  # std of uniform 0..255 around 128


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def save(graph, path, domains=()):
    opsets = [helper.make_opsetid("", OPSET)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="qlinear-bench")
    m.ir_version = 10  # the version onnx 1.16+ writes for opset 21; ORT >= 1.20 reads it
    onnx.checker.check_model(m)
    onnx.save(m, path)


def rng_for(name):
    # one stream per case, so adding a case does not change the others
    return np.random.default_rng(abs(hash_str(name)) % (2**32))


def hash_str(s):
    h = 2166136261
    for ch in s.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def out_scale(k_terms, w_scale):
    """y scale that spreads the accumulator (std ~ sqrt(K)*74*74 for random
    data) over roughly +-3 sigma of the uint8 range, so outputs do not all
    saturate (saturation would make some kernels take a shortcut)."""
    return float(A_SCALE * w_scale * math.sqrt(k_terms) * A_STD * A_STD * 3 / 128)


def s8_weights(rng, shape):
    return rng.integers(-127, 128, size=shape, dtype=np.int8)


def qlmm(path, m, k, n):
    rng = rng_for(path)
    b, bs = s8_weights(rng, (k, n)), 0.01
    inits = [init("a_scale", np.float32(A_SCALE)), init("a_zp", np.uint8(A_ZP)), init("b", b),
             init("b_scale", np.float32(bs)), init("b_zp", np.int8(0)),
             init("y_scale", np.float32(out_scale(k, bs))), init("y_zp", np.uint8(128))]
    node = helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"], ["y"])
    g = helper.make_graph([node], "qlmm", [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [m, n])], inits)
    save(g, path)


def mmi(path, m, k, n):
    rng = rng_for(path)
    inits = [init("b", s8_weights(rng, (k, n))), init("a_zp", np.uint8(A_ZP))]
    node = helper.make_node("MatMulInteger", ["a", "b", "a_zp"], ["y"])
    g = helper.make_graph([node], "mmi", [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])], inits)
    save(g, path)


def dyn(path, m, k, n):
    rng = rng_for(path)
    inits = [init("b", s8_weights(rng, (k, n))), init("b_scale", np.float32(0.01))]
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xzp"]),
        helper.make_node("MatMulInteger", ["xq", "b", "xzp"], ["acc"]),
        helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["xs", "b_scale"], ["s"]),
        helper.make_node("Mul", ["accf", "s"], ["y"]),
    ]
    g = helper.make_graph(nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])], inits)
    save(g, path)


def conv_params(path, cin, cout, k, group):
    rng = rng_for(path)
    w = s8_weights(rng, (cout, cin // group, k, k))
    ws = rng.uniform(0.002, 0.02, size=cout).astype(np.float32)
    k_terms = cin // group * k * k
    bias = rng.integers(-2000, 2000, size=cout, dtype=np.int32)
    ys = out_scale(k_terms, float(ws.mean()))
    return w, ws, bias, ys


def conv_out(h, k, stride):
    pad = k // 2
    return (h + 2 * pad - k) // stride + 1, [pad] * 4


def qlconv(path, cin, cout, k, stride, group, h):
    w, ws, bias, ys = conv_params(path, cin, cout, k, group)
    ho, pads = conv_out(h, k, stride)
    inits = [init("x_scale", np.float32(A_SCALE)), init("x_zp", np.uint8(A_ZP)), init("w", w), init("w_scale", ws),
             init("w_zp", np.zeros(cout, np.int8)), init("y_scale", np.float32(ys)), init("y_zp", np.uint8(128)),
             init("bias", bias)]
    node = helper.make_node("QLinearConv", ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "bias"],
                            ["y"], kernel_shape=[k, k], strides=[stride, stride], pads=pads, group=group)
    g = helper.make_graph([node], "qlconv", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, cin, h, h])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, cout, ho, ho])], inits)
    save(g, path)


def qdqconv(path, cin, cout, k, stride, group, h):
    w, ws, bias, ys = conv_params(path, cin, cout, k, group)
    ho, pads = conv_out(h, k, stride)
    inits = [init("x_scale", np.float32(A_SCALE)), init("x_zp", np.uint8(A_ZP)), init("w", w), init("w_scale", ws),
             init("w_zp", np.zeros(cout, np.int8)), init("bias", bias), init("b_scale", (ws * np.float32(A_SCALE))),
             init("b_zp", np.zeros(cout, np.int32)), init("y_scale", np.float32(ys)), init("y_zp", np.uint8(128))]
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "x_scale", "x_zp"], ["xf"]),
        helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zp"], ["wf"], axis=0),
        helper.make_node("DequantizeLinear", ["bias", "b_scale", "b_zp"], ["bf"], axis=0),
        helper.make_node("Conv", ["xf", "wf", "bf"], ["yf"], kernel_shape=[k, k], strides=[stride, stride], pads=pads,
                         group=group),
        helper.make_node("QuantizeLinear", ["yf", "y_scale", "y_zp"], ["y"]),
    ]
    g = helper.make_graph(nodes, "qdqconv", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, cin, h, h])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, cout, ho, ho])], inits)
    save(g, path)


def nbits(path, m, k, n, block=32):
    rng = rng_for(path)
    kb = k // block
    b = rng.integers(0, 256, size=(n, kb, block // 2), dtype=np.uint8)
    scales = rng.uniform(0.001, 0.01, size=n * kb).astype(np.float32)
    node = helper.make_node("MatMulNBits", ["a", "b", "scales"], ["y"], domain="com.microsoft", K=k, N=n, bits=4,
                            block_size=block, accuracy_level=4)
    g = helper.make_graph([node], "nbits", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                          [init("b", b), init("scales", scales)])
    save(g, path, domains=["com.microsoft"])


def identity(path):
    node = helper.make_node("Identity", ["x"], ["y"])
    g = helper.make_graph([node], "identity", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    save(g, path)


def cases(shared_models):
    out = []
    for m, k, n in MM_SHAPES:
        shape, ops = f"{m}x{k}x{n}", 2 * m * k * n
        out.append(("qlmm-" + shape, "QLinearMatMul", f"M,K,N={m},{k},{n}", ops, lambda p, m=m, k=k, n=n: qlmm(p, m, k, n)))
    for m, k, n in MM_SHAPES:
        shape, ops = f"{m}x{k}x{n}", 2 * m * k * n
        out.append(("mmi-" + shape, "MatMulInteger", f"M,K,N={m},{k},{n}", ops, lambda p, m=m, k=k, n=n: mmi(p, m, k, n)))
    for m, k, n in MM_SHAPES:
        shape, ops = f"{m}x{k}x{n}", 2 * m * k * n
        out.append(("dyn-" + shape, "DynQ+MatMulInteger", f"M,K,N={m},{k},{n}", ops,
                    lambda p, m=m, k=k, n=n: dyn(p, m, k, n)))
    for kind, fn in (("qlconv", qlconv), ("qdqconv", qdqconv)):
        for name, cin, cout, k, s, g, h in CONV_SHAPES:
            ho = conv_out(h, k, s)[0]
            ops = 2 * cout * ho * ho * (cin // g) * k * k
            out.append((f"{kind}-{name}", "QLinearConv" if kind == "qlconv" else "QDQ Conv",
                        f"{cin}->{cout} k{k} s{s} g{g} {h}x{h}", ops,
                        lambda p, a=(cin, cout, k, s, g, h), fn=fn: fn(p, *a)))
    for m, k, n in NBITS_SHAPES:
        out.append((f"nbits-{m}x{k}x{n}", "MatMulNBits 4b/32", f"M,K,N={m},{k},{n}", 2 * m * k * n,
                    lambda p, m=m, k=k, n=n: nbits(p, m, k, n)))
    real = []
    for f in REAL_MODELS:
        src = os.path.join(shared_models, f)
        if os.path.exists(src):
            g = onnx.load(src, load_external_data=False).graph
            inits = {i.name for i in g.initializer}
            shape = ", ".join("x".join(str(d.dim_value) if d.HasField("dim_value") else "?"
                                       for d in i.type.tensor_type.shape.dim)
                              for i in g.input if i.name not in inits)
            real.append((f[:-5], "real model", shape, None, src))
    return out, real


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="cache directory (not committed)")
    ap.add_argument("--shared-models", default=os.path.join(here, "..", "..", "shared", "models"))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    old = {}
    mpath = os.path.join(args.out, "manifest.json")
    if os.path.exists(mpath) and not args.force:
        with open(mpath) as f:
            old = json.load(f)
    fresh = args.force or old.get("version") != GEN_VERSION
    synth, real = cases(args.shared_models)
    manifest = {"version": GEN_VERSION, "cases": []}
    for name, op, shape, ops, build in synth:
        path = os.path.join(args.out, name + ".onnx")
        if fresh or not os.path.exists(path):
            build(path)
            print(f"wrote {path}")
        manifest["cases"].append({"name": name, "op": op, "shape": shape, "ops": ops, "path": path, "real": False})
    for name, op, shape, ops, src in real:
        manifest["cases"].append({"name": name, "op": op, "shape": shape, "ops": ops,
                                  "path": os.path.abspath(src), "real": True})
    ipath = os.path.join(args.out, "identity.onnx")
    if fresh or not os.path.exists(ipath):
        identity(ipath)
    manifest["identity"] = ipath
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest['cases'])} cases in {mpath}")


if __name__ == "__main__":
    main()
