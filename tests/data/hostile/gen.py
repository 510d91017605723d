#!/usr/bin/env python3
"""Writes the hostile-model corpus of tests/scripts/test-hostile.sh into this
directory. Deterministic (fixed seeds); every file is small. Re-run after
changing it and commit the results:  python3 tests/data/hostile/gen.py

Naming: the test treats files by prefix.
  sem-*   load fine but carry values no run may trust (NaN/Inf/zero scales,
          shapes that would need terabytes): inspect may succeed, run must not
          die from a signal, verify (when it exists) must fail.
  other   broken or hostile at load time: inspect, run and verify must all
          fail with a one-line error.
ext-*/ directories hold a model.onnx whose external data tries to escape.
"""
import os
import random
import shutil
import struct

import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- raw writer
def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def key(field, wt):
    return varint((field << 3) | wt)


def ld(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def vint(field, v):
    return key(field, 0) + varint(v)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- valid bases
def base_graph(nodes, inits=(), extra_inputs=(), outputs=None, name="g"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    outs = outputs if outputs is not None else [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    return helper.make_graph(nodes, name, [x, *extra_inputs], outs, initializer=list(inits))


def model(graph, opset=13, ir=8):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="hostile-gen")
    m.ir_version = ir
    return m


def save(name, m):
    write(name, m.SerializeToString())


def qdq_model(scale, zp=0):
    """x -> QuantizeLinear(scale) -> DequantizeLinear(scale) -> y."""
    s = numpy_helper.from_array(np.array(scale, dtype=np.float32), "s")
    z = numpy_helper.from_array(np.array(zp, dtype=np.int8), "z")
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")]
    return model(base_graph(nodes, [s, z]))


def with_init(t):
    """A model whose initializer `w` is the given TensorProto (used by a node)."""
    nodes = [helper.make_node("Identity", ["x"], ["y"], name="idx"),
             helper.make_node("Identity", ["w"], ["w_out"], name="idw")]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("w_out", TensorProto.FLOAT, None)]
    return model(base_graph(nodes, [t], outputs=outs))


def raw_tensor(dims, dtype=TensorProto.FLOAT, raw=b"", name="w"):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def _nodata(dims):
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    return t


def ext_tensor(location, offset=None, length=None, n=4):
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([n])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    return t


def nested_if(levels):
    """Bytes of a model whose If's then_branch holds an If ... `levels` deep
    (written by hand: python protobuf refuses to build such depth)."""
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["r0"])], "leaf", [],
                             [helper.make_tensor_value_info("r0", TensorProto.FLOAT, None)]).SerializeToString()
    g = leaf
    for i in range(levels):
        out = ("r%d" % (i + 1)).encode()
        then_a = ld(1, b"then_branch") + ld(6, g) + vint(20, 5)
        else_a = ld(1, b"else_branch") + ld(6, leaf) + vint(20, 5)
        node = ld(1, b"c") + ld(2, out) + ld(4, b"If") + ld(5, then_a) + ld(5, else_a)
        vi = helper.make_tensor_value_info(out.decode(), TensorProto.FLOAT, None).SerializeToString()
        g = ld(1, node) + ld(2, b"level%d" % i) + ld(12, vi)
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, []).SerializeToString()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]).SerializeToString()
    g += ld(11, x) + ld(11, c)
    return vint(1, 8) + ld(7, g) + ld(8, ld(1, b"") + vint(2, 13))


def main():
    # start clean (keep this script)
    for n in os.listdir(HERE):
        p = os.path.join(HERE, n)
        if n == "gen.py":
            continue
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)

    rng = random.Random(20251130)
    valid = qdq_model(0.5).SerializeToString()

    # ---- empty, random, truncated
    write("empty.onnx", b"")
    for i, n in enumerate((7, 64, 700, 4000)):
        write("random-%d.onnx" % i, bytes(rng.randrange(256) for _ in range(n)))
    # random bytes behind a valid ModelProto header
    write("random-after-header.onnx", vint(1, 8) + bytes(rng.randrange(256) for _ in range(300)))
    cuts = []
    for cut in range(1, len(valid)):
        try:
            onnx.ModelProto.FromString(valid[:cut])
        except Exception:
            cuts.append(cut)
    for cut in (cuts[0], cuts[len(cuts) // 3], cuts[len(cuts) // 2], cuts[-1]):
        write("truncated-%d.onnx" % cut, valid[:cut])
    # valid model with one byte flipped in the middle of a length
    for pos in range(len(valid) // 2, len(valid)):
        flipped = bytearray(valid)
        flipped[pos] ^= 0xFF
        try:
            onnx.ModelProto.FromString(bytes(flipped))
        except Exception:
            write("flipped-byte.onnx", bytes(flipped))
            break

    # ---- wire types
    write("wire-graph-as-varint.onnx", vint(1, 8) + vint(7, 1))
    write("wire-group.onnx", vint(1, 8) + key(7, 3) + key(7, 4))
    write("wire-type-7.onnx", vint(1, 8) + key(2, 7) + b"\x00")
    node_bad = ld(1, b"x") + key(4, 5) + b"\x00\x00\x80\x3f"   # op_type as fixed32
    write("wire-node-optype-fixed32.onnx", vint(1, 8) + ld(7, ld(1, node_bad)))
    write("wire-length-past-end.onnx", vint(1, 8) + key(7, 2) + varint(100000) + b"\x0a\x00")
    write("wire-varint-11-bytes.onnx", b"\x08" + b"\xff" * 10 + b"\x01")
    write("wire-field-zero.onnx", b"\x02\x00")

    # ---- tensors
    save("dims-negative.onnx", with_init(raw_tensor([2, -3], raw=b"\0" * 24)))
    save("dims-huge.onnx", with_init(raw_tensor([1 << 40, 1 << 40])))
    save("dims-overflow.onnx", with_init(raw_tensor([(1 << 63) - 1, 2, 2])))
    save("dims-over-tensor-limit.onnx", with_init(raw_tensor([1 << 20, 1 << 20])))
    save("dims-rank-9.onnx", with_init(raw_tensor([1] * 9, raw=b"\0" * 4)))
    save("raw-short.onnx", with_init(raw_tensor([2, 3], raw=b"\0" * 20)))
    save("raw-long.onnx", with_init(raw_tensor([2, 3], raw=b"\0" * 28)))
    save("raw-int4-short.onnx", with_init(raw_tensor([5], TensorProto.INT4, raw=b"\x11\x22")))
    t = raw_tensor([3], TensorProto.INT8)
    t.ClearField("raw_data")
    t.int32_data.extend([1, 2])
    save("int32-count.onnx", with_init(t))
    t = raw_tensor([3], TensorProto.FLOAT)
    t.ClearField("raw_data")
    t.float_data.extend([1.0] * 5)
    save("float-count.onnx", with_init(t))
    t = raw_tensor([2], TensorProto.STRING)
    t.ClearField("raw_data")
    t.string_data.append(b"only-one")
    save("string-count.onnx", with_init(t))
    save("dims-no-data-1gib.onnx", with_init(_nodata([1 << 28])))
    save("dtype-99.onnx", with_init(raw_tensor([1], 99, raw=b"\0" * 4)))
    save("dtype-undefined.onnx", with_init(raw_tensor([1], 0, raw=b"\0" * 4)))
    t = raw_tensor([1], TensorProto.FLOAT, raw=b"\0" * 4)
    t.ClearField("name")
    save("init-no-name.onnx", with_init(t))

    # ---- graph structure
    n = [helper.make_node("Relu", ["u"], ["t"], name="A"), helper.make_node("Relu", ["t"], ["u"], name="B"),
         helper.make_node("Identity", ["x"], ["y"], name="C")]
    save("graph-cycle.onnx", model(base_graph(n)))
    save("graph-self-loop.onnx", model(base_graph([helper.make_node("Add", ["x", "y"], ["y"], name="A")])))
    save("graph-undefined-input.onnx", model(base_graph([helper.make_node("Relu", ["nowhere"], ["y"], name="A")])))
    save("graph-duplicate-output.onnx", model(base_graph([helper.make_node("Relu", ["x"], ["y"], name="A"),
                                                           helper.make_node("Relu", ["x"], ["y"], name="B")])))
    save("graph-output-undefined.onnx", model(base_graph([helper.make_node("Relu", ["x"], ["t"], name="A")])))
    w = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    save("graph-duplicate-initializer.onnx", model(base_graph([helper.make_node("Add", ["x", "w"], ["y"])], [w, w])))
    save("graph-no-op-type.onnx", model(base_graph([helper.make_node("", ["x"], ["y"])])))
    nog = onnx.ModelProto()
    nog.ir_version = 8
    nog.opset_import.add().version = 13
    save("graph-missing.onnx", nog)
    # a cycle through a subgraph: the If's branch reads a value computed from the If's output
    branch = helper.make_graph([helper.make_node("Identity", ["late"], ["s"])], "b", [],
                               [helper.make_tensor_value_info("s", TensorProto.FLOAT, None)])
    n = [helper.make_node("If", ["c"], ["r"], then_branch=branch, else_branch=branch, name="if"),
         helper.make_node("Identity", ["r"], ["late"], name="after"),
         helper.make_node("Identity", ["x"], ["y"], name="idx")]
    save("graph-cycle-through-subgraph.onnx",
         model(base_graph(n, extra_inputs=[helper.make_tensor_value_info("c", TensorProto.BOOL, [])])))

    # ---- nesting
    write("deep-if-40.onnx", nested_if(40))
    write("deep-if-16-ok-but-17.onnx", nested_if(17))
    # raw: 3,000 nested GraphProto.node/NodeProto.attribute/AttributeProto.g
    # openings, each length exact (padded 4-byte varints: 5 bytes a level)
    def varint4(v):
        return bytes([(v & 0x7F) | 0x80, ((v >> 7) & 0x7F) | 0x80, ((v >> 14) & 0x7F) | 0x80, (v >> 21) & 0x7F])
    levels = 3000
    fields = (1, 5, 6)  # graph.node -> node.attribute -> attribute.g -> graph.node ...
    body = bytearray()
    for i in range(levels):
        body += key(fields[i % 3], 2) + varint4(5 * (levels - i - 1))
    write("deep-raw-nodes.onnx", vint(1, 8) + key(7, 2) + varint(len(body)) + bytes(body))
    # sequence(sequence(...(tensor))) 3000 deep in a value_info
    tp = b"\x0a" + varint(2) + vint(1, 1)  # TypeProto{tensor_type{elem_type=1}}
    for _ in range(3000):
        tp = ld(4, ld(1, tp))
    vi = ld(1, b"deep") + ld(2, tp)
    graph = ld(1, ld(1, b"x") + ld(2, b"y") + ld(4, b"Identity")) + ld(13, vi)
    write("deep-type.onnx", vint(1, 8) + ld(7, graph) + ld(8, ld(1, b"") + vint(2, 13)))

    # ---- semantic: loads, but the values cannot be trusted
    save("sem-scale-nan.onnx", qdq_model(float("nan")))
    save("sem-scale-inf.onnx", qdq_model(float("inf")))
    save("sem-scale-zero.onnx", qdq_model(0.0))
    save("sem-scale-negative.onnx", qdq_model(-1.0))
    save("sem-scale-denormal.onnx", qdq_model(1e-45))
    shape = numpy_helper.from_array(np.array([1 << 31, 1 << 31], np.int64), "shape")
    n = [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="cos"),
         helper.make_node("Identity", ["x"], ["y"], name="idx")]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("big", TensorProto.FLOAT, None)]
    save("sem-constantofshape-huge.onnx", model(base_graph(n, [shape], outputs=outs)))
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20, 4], np.int64), "shape")
    n = [helper.make_node("Expand", ["x", "shape"], ["y"], name="expand")]
    save("sem-expand-huge.onnx", model(base_graph(n, [shape])))
    shape = numpy_helper.from_array(np.array([-1, 3], np.int64), "shape")
    save("sem-reshape-bad.onnx", model(base_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], [shape])))
    save("sem-unknown-op.onnx", model(base_graph([helper.make_node("NoSuchOp", ["x"], ["y"])])))
    save("sem-opset-999.onnx", model(base_graph([helper.make_node("Relu", ["x"], ["y"])]), opset=999))
    s = numpy_helper.from_array(np.ones(3, np.float32), "s")   # per-axis scale of the wrong length
    z = numpy_helper.from_array(np.zeros(3, np.int8), "z")
    n = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)]
    save("sem-scale-wrong-length.onnx", model(base_graph(n, [s, z])))

    # ---- external data that tries to leave the model's directory
    def ext_dir(name, t, files=()):
        d = os.path.join(HERE, name)
        os.mkdir(d)
        for fname, content in files:
            with open(os.path.join(d, fname), "wb") as f:
                f.write(content)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(with_init(t).SerializeToString())
        return d

    ext_dir("ext-absolute", ext_tensor("/etc/passwd", 0, 16))
    ext_dir("ext-dotdot", ext_tensor("../../../../../../etc/passwd", 0, 16))
    ext_dir("ext-dotdot-inner", ext_tensor("sub/../../ext-absolute/model.onnx", 0, 16))
    d = ext_dir("ext-symlink-file", ext_tensor("passwd", 0, 16))
    os.symlink("/etc/passwd", os.path.join(d, "passwd"))
    d = ext_dir("ext-symlink-dir", ext_tensor("etc/passwd", 0, 16))
    os.symlink("/etc", os.path.join(d, "etc"))
    d = ext_dir("ext-symlink-parent", ext_tensor("up/gen.py", 0, 16))
    os.symlink("..", os.path.join(d, "up"))
    data = b"\0" * 64
    ext_dir("ext-offset-past-end", ext_tensor("w.bin", 128, 16), [("w.bin", data)])
    ext_dir("ext-length-past-end", ext_tensor("w.bin", 56, 16), [("w.bin", data)])
    ext_dir("ext-offset-huge", ext_tensor("w.bin", 1 << 62, 16), [("w.bin", data)])
    ext_dir("ext-offset-negative", ext_tensor("w.bin", -16, 16), [("w.bin", data)])
    ext_dir("ext-length-wrong", ext_tensor("w.bin", 0, 8), [("w.bin", data)])
    ext_dir("ext-missing-file", ext_tensor("nope.bin", 0, 16))
    ext_dir("ext-directory", ext_tensor(".", 0, 16))
    ext_dir("ext-no-location", ext_tensor("", 0, 16))

    # the small input the run test feeds every model
    write("input-x.pb", numpy_helper.from_array(np.array([[0.5, -1.0, 2.0, 3.5]], np.float32), "x").SerializeToString())


if __name__ == "__main__":
    main()
