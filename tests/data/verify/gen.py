#!/usr/bin/env python3
"""Generates the qlinear verify corpus (onnx helper API; run from anywhere):

    python3 tests/data/verify/gen.py

bad/<rule>__<case>.onnx breaks exactly that rule and nothing else; good/*.onnx
must verify without errors. The expected rule id is the part of the file name
before "__". The test (tests/scripts/test-verify.sh) needs no Python.
check_ort.py then checks offline that `qlinear annotate` output of each good
model still runs in ONNX Runtime with identical outputs.
"""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as H
from onnx import numpy_helper as NH

HERE = os.path.dirname(os.path.abspath(__file__))
F, U8, I8, I32, F16 = TP.FLOAT, TP.UINT8, TP.INT8, TP.INT32, TP.FLOAT16


def T(name, dtype, dims, vals):
    """Initializer; float8/float4/int4 values are given as numbers and packed by make_tensor."""
    vals = np.asarray(vals).reshape(-1).tolist() if not np.isscalar(vals) else [vals]
    np_types = {TP.FLOAT: np.float32, TP.UINT8: np.uint8, TP.INT8: np.int8, TP.INT32: np.int32,
                TP.INT64: np.int64, TP.FLOAT16: np.float16, TP.UINT16: np.uint16, TP.INT16: np.int16}
    if dtype in np_types:  # raw_data: compact (int32_data would spend 10 bytes per negative int8)
        return NH.from_array(np.array(vals, dtype=np_types[dtype]).reshape(dims), name)
    return H.make_tensor(name, dtype, dims, vals)


def S(name, v, dtype=F):
    return T(name, dtype, [], [v])


def vi(name, dtype, shape):
    return H.make_tensor_value_info(name, dtype, shape)


def N(op, ins, outs, name=None, domain=None, **attrs):
    return H.make_node(op, ins, outs, name=name or outs[0] + "_node", domain=domain, **attrs)


def save(kind, fname, nodes, inits, inputs, outputs, opset=13, ms=False, ir=None, annotations=None):
    opsets = [H.make_opsetid("", opset)]
    if ms:
        opsets.append(H.make_opsetid("com.microsoft", 1))
    g = H.make_graph(nodes, fname, inputs, outputs, inits)
    for tensor, scale, zp, extra in annotations or []:
        a = g.quantization_annotation.add()
        a.tensor_name = tensor
        for k, v in [("SCALE_TENSOR", scale), ("ZERO_POINT_TENSOR", zp)] + list(extra.items()):
            if v is not None:
                e = a.quant_parameter_tensor_names.add()
                e.key, e.value = k, v
    if ir is None:
        ir = 10 if opset <= 21 else (11 if opset <= 23 else 13)
    m = H.make_model(g, opset_imports=opsets, ir_version=ir, producer_name="qlinear-verify-gen")
    path = os.path.join(HERE, kind, fname + ".onnx")
    onnx.save(m, path)
    return path


rng = np.random.default_rng(7)


# ---------------------------------------------------------------- building blocks
def qdq_conv(name="c", sx=0.02, zx=128, sw=None, w=None, bias=None, sb=None, zb=0, opset=13, sy=0.05, zy=128,
             per_channel=False, wzp=None):
    """x(f32) -> Q -> DQ -> Conv(DQ(w), DQ(b)) -> Q -> DQ -> y. Returns (nodes, inits, inputs, outputs)."""
    M, C, k = 4, 3, 3
    if w is None:
        w = rng.integers(-127, 128, size=(M, C, k, k))
    M = w.shape[0]
    if sw is None:
        sw = [0.01 * (i + 1) for i in range(M)] if per_channel else 0.01
    sw_arr = np.atleast_1d(np.asarray(sw, np.float32))
    if bias is None:
        bias = rng.integers(-1000, 1000, size=(M,))
    if sb is None:
        sb = (np.float32(sx) * sw_arr).astype(np.float32)
        sb = sb if per_channel else float(sb[0])
    inits = [S("x_scale", sx), S("x_zp", zx, U8), T("w_q", I8, list(w.shape), w),
             T("w_scale", F, [M], sw) if per_channel else S("w_scale", sw),
             T("w_zp", I8, [M], [0] * M) if per_channel else S("w_zp", 0 if wzp is None else wzp, I8),
             T("b_q", I32, [M], bias), T("b_scale", F, [M], sb) if np.ndim(sb) else S("b_scale", sb),
             T("b_zp", I32, [M], [zb] * M) if np.ndim(sb) else S("b_zp", zb, I32),
             S("y_scale", sy), S("y_zp", zy, U8)]
    ax = {"axis": 0} if per_channel else {}
    nodes = [N("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], "q_x"),
             N("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xf"], "dq_x"),
             N("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wf"], "dq_w", **ax),
             N("DequantizeLinear", ["b_q", "b_scale", "b_zp"], ["bf"], "dq_b", **ax),
             N("Conv", ["xf", "wf", "bf"], ["yf"], name, pads=[1, 1, 1, 1]),
             N("QuantizeLinear", ["yf", "y_scale", "y_zp"], ["yq"], "q_y"),
             N("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["y"], "dq_y")]
    return nodes, inits, [vi("x", F, [1, w.shape[1], 8, 8])], [vi("y", F, [1, M, 8, 8])]


def qop_conv_chain(sy1=0.05, sx2=0.05, zy1=0, zx2=0, through=None, w_scale2=None, bias1=None, w1=None,
                   x_scale1_type=F, b_type=I32, w_scale1=None):
    """x -> Q -> QLinearConv -> [through] -> QLinearConv -> DQ -> y (int8, opset 13)."""
    M, C = 4, 3
    w1 = rng.integers(-127, 128, size=(M, C, 3, 3)) if w1 is None else w1
    w2 = rng.integers(-127, 128, size=(M, M, 1, 1))
    b1 = rng.integers(-500, 500, size=(M,)) if bias1 is None else bias1
    inits = [T("x_scale", x_scale1_type, [], [0.02]), S("x_zp", 0, I8), T("w1", I8, [M, C, 3, 3], w1),
             w_scale1 if w_scale1 is not None else S("w1_scale", 0.01), S("w1_zp", 0, I8),
             T("b1", b_type, [M], b1), S("y1_scale", sy1), S("y1_zp", zy1, I8),
             T("w2", I8, [M, M, 1, 1], w2), w_scale2 if w_scale2 is not None else S("w2_scale", 0.01),
             S("w2_zp", 0, I8), S("x2_scale", sx2), S("x2_zp", zx2, I8), S("y2_scale", 0.1), S("y2_zp", 0, I8)]
    nodes = [N("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], "q_in"),
             N("QLinearConv", ["xq", "x_scale", "x_zp", "w1", "w1_scale", "w1_zp", "y1_scale", "y1_zp", "b1"],
               ["y1"], "conv1", pads=[1, 1, 1, 1])]
    mid = "y1"
    for op, extra_in, extra_inits, attrs in through or []:
        nodes.append(N(op, [mid] + extra_in, [mid + "_" + op.lower()], op.lower(), **attrs))
        inits += extra_inits
        mid = mid + "_" + op.lower()
    nodes += [N("QLinearConv", [mid, "x2_scale", "x2_zp", "w2", "w2_scale", "w2_zp", "y2_scale", "y2_zp"], ["y2"],
                "conv2"),
              N("DequantizeLinear", ["y2", "y2_scale", "y2_zp"], ["y"], "dq_out")]
    return nodes, inits, [vi("x", F, [1, C, 8, 8])], [vi("y", F, None)]


def qdq_pair(sq=0.1, zq=3, sd=None, zd=None, qtype=U8, x_shape=(2, 3), opset=13, q_attrs=None, d_attrs=None,
             scale_q=None, zp_q=None, scale_d=None, zp_d=None, xtype=F):
    """x -> Q -> DQ -> y with separately given Q and DQ parameters."""
    sd = sq if sd is None else sd
    zd = zq if zd is None else zd
    inits = [scale_q or S("q_scale", sq), zp_q or S("q_zp", zq, qtype)]
    same = scale_d is None and zp_d is None and sd == sq and zd == zq
    if same:
        dq_in = ["xq", "q_scale", "q_zp"]
    else:
        inits += [scale_d or S("d_scale", sd), zp_d or S("d_zp", zd, qtype)]
        dq_in = ["xq", "d_scale", "d_zp"]
    nodes = [N("QuantizeLinear", ["x", "q_scale", "q_zp"], ["xq"], "q", **(q_attrs or {})),
             N("DequantizeLinear", dq_in, ["y"], "dq", **(d_attrs or {}))]
    return nodes, inits, [vi("x", xtype, list(x_shape))], [vi("y", xtype, list(x_shape))]


def gen_good():
    # QDQ conv, per-tensor and per-channel, with int32 bias of scale x_scale * w_scale
    save("good", "qdq_conv_per_tensor", *qdq_conv())
    save("good", "qdq_conv_per_channel", *qdq_conv(per_channel=True))
    # QDQ value-preserving ops with shared parameters
    nodes, inits, ins, outs = qdq_conv()
    nodes[-1] = N("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["yd"], "dq_y")
    inits += [T("shape", TP.INT64, [2], [1, -1])]
    nodes += [N("MaxPool", ["yd"], ["mp"], "maxpool", kernel_shape=[2, 2], strides=[2, 2]),
              N("QuantizeLinear", ["mp", "y_scale", "y_zp"], ["mpq"], "q_mp"),
              N("DequantizeLinear", ["mpq", "y_scale", "y_zp"], ["mpd"], "dq_mp"),
              N("Reshape", ["mpd", "shape"], ["rs"], "reshape"),
              N("QuantizeLinear", ["rs", "y_scale", "y_zp"], ["rsq"], "q_rs"),
              N("DequantizeLinear", ["rsq", "y_scale", "y_zp"], ["y"], "dq_rs")]
    save("good", "qdq_maxpool_reshape", nodes, inits, ins, [vi("y", F, [1, 64])])
    # QOperator: QLinearConv -> Reshape/Transpose -> QLinearConv, parameters carried through
    save("good", "qoperator_conv_chain",
         *qop_conv_chain(through=[("Transpose", [], [], {"perm": [0, 1, 3, 2]}),
                                  ("MaxPool", [], [], {"kernel_shape": [2, 2], "strides": [2, 2]})]))
    # QOperator per-channel weights
    save("good", "qoperator_conv_per_channel",
         *qop_conv_chain(w_scale1=T("w1_scale", F, [4], [0.01, 0.02, 0.03, 0.04])))
    # QLinearMatMul opset 21 with per-column b
    a_in = [vi("a", F, [2, 3])]
    inits = [S("a_scale", 0.05), S("a_zp", 0, I8), T("b", I8, [3, 4], rng.integers(-127, 128, (3, 4))),
             T("b_scale", F, [4], [0.01, 0.02, 0.01, 0.02]), T("b_zp", I8, [4], [0] * 4), S("y_scale", 0.1),
             S("y_zp", 0, I8)]
    nodes = [N("QuantizeLinear", ["a", "a_scale", "a_zp"], ["aq"], "q_a"),
             N("QLinearMatMul", ["aq", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"], ["yq"], "mm"),
             N("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["y"], "dq_y")]
    save("good", "qlinearmatmul_per_column", nodes, inits, a_in, [vi("y", F, [2, 4])], opset=21)
    # blocked int4 weights (opset 21) for MatMul
    wq = rng.integers(-8, 8, size=(8, 4))
    inits = [T("w_q", TP.INT4, [8, 4], wq), T("w_scale", F, [2, 4], rng.uniform(0.01, 0.1, (2, 4))),
             T("w_zp", TP.INT4, [2, 4], [0] * 8)]
    nodes = [N("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], "dq_w", axis=0, block_size=4),
             N("MatMul", ["x", "w"], ["y"], "mm")]
    save("good", "qdq_blocked_int4", nodes, inits, [vi("x", F, [2, 8])], [vi("y", F, [2, 4])], opset=21)
    # float8 activations (opset 19), zero point 0
    save("good", "qdq_float8", *qdq_pair(sq=0.5, zq=0, qtype=TP.FLOAT8E4M3FN, opset=19), opset=19)
    # 16-bit activations (opset 21)
    save("good", "qdq_uint16", *qdq_pair(sq=0.001, zq=32767, qtype=TP.UINT16), opset=21)
    # per-axis activations with a declared shape
    save("good", "qdq_per_axis", *qdq_pair(scale_q=T("q_scale", F, [3], [0.1, 0.2, 0.3]),
                                           zp_q=T("q_zp", U8, [3], [1, 2, 3]), q_attrs={"axis": 1},
                                           d_attrs={"axis": 1}))
    # com.microsoft QOperator ops
    inits = [S("x_scale", 0.02), S("x_zp", 0, U8), S("s1", 0.01), S("z1", 10, U8), S("s2", 0.015), S("z2", 5, U8),
             S("s3", 0.004), S("z3", 0, U8), S("sc", 0.02), S("zc", 3, U8)]
    nodes = [N("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], "q_x"),
             N("QLinearAdd", ["xq", "x_scale", "x_zp", "xq", "x_scale", "x_zp", "s1", "z1"], ["a"], "add",
               domain="com.microsoft"),
             N("QLinearLeakyRelu", ["a", "s1", "z1", "s2", "z2"], ["lr"], "leaky", domain="com.microsoft", alpha=0.1),
             N("QLinearSigmoid", ["lr", "s2", "z2", "s3", "z3"], ["sg"], "sigmoid", domain="com.microsoft"),
             N("QLinearConcat", ["sc", "zc", "sg", "s3", "z3", "a", "s1", "z1"], ["cat"], "concat",
               domain="com.microsoft", axis=1),
             N("DequantizeLinear", ["cat", "sc", "zc"], ["y"], "dq_y")]
    save("good", "ms_qlinear_ops", nodes, inits, [vi("x", F, [1, 4])], [vi("y", F, [1, 8])], ms=True)
    # annotated QDQ model, incl. the QUANT_RANGE extension (symmetric int8 weights, zero point 0)
    nodes, inits, ins, outs = qdq_conv()
    ann = [("xq", "x_scale", "x_zp", {}), ("w_q", "w_scale", "w_zp", {"QUANT_RANGE": "narrow"}),
           ("b_q", "b_scale", "b_zp", {}), ("yq", "y_scale", "y_zp", {}), ("x", "x_scale", "x_zp", {})]
    save("good", "qdq_conv_annotated", nodes, inits, ins, outs, annotations=ann)
    # MatMulInteger with static zero points, small K: no overflow
    inits = [T("b", I8, [4, 2], rng.integers(-128, 128, (4, 2))), S("a_zp", 128, U8), S("b_zp", 0, I8)]
    nodes = [N("MatMulInteger", ["a", "b", "a_zp", "b_zp"], ["y"], "mmi")]
    save("good", "matmulinteger_static", nodes, inits, [vi("a", U8, [2, 4])], [vi("y", I32, [2, 2])], opset=10)
    # Gemm in QDQ form with bias
    inits = [S("x_scale", 0.1), S("x_zp", 0, I8), T("w_q", I8, [3, 4], rng.integers(-127, 128, (3, 4))),
             S("w_scale", 0.05), S("w_zp", 0, I8), T("b_q", I32, [4], [1, 2, 3, 4]),
             S("b_scale", float(np.float32(0.1) * np.float32(0.05))), S("b_zp", 0, I32)]
    nodes = [N("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], "q_x"),
             N("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xf"], "dq_x"),
             N("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wf"], "dq_w"),
             N("DequantizeLinear", ["b_q", "b_scale", "b_zp"], ["bf"], "dq_b"),
             N("Gemm", ["xf", "wf", "bf"], ["y"], "gemm")]
    save("good", "qdq_gemm_bias", nodes, inits, [vi("x", F, [2, 3])], [vi("y", F, [2, 4])])


def gen_bad():
    # ---- scale-invalid
    for case, v in [("zero", 0.0), ("negative", -0.5), ("nan", float("nan")), ("inf", float("inf")),
                    ("subnormal", 1e-40)]:
        save("bad", "scale-invalid__" + case, *qdq_pair(sq=v))
    save("bad", "scale-invalid__float16_subnormal",
         *qdq_pair(scale_q=T("q_scale", F16, [], [2.0 ** -20]), xtype=F16, opset=19), opset=19)
    save("bad", "scale-invalid__per_channel_zero", *qdq_conv(per_channel=True, sw=[0.01, 0.0, 0.02, 0.03]))
    # ---- zero-point-invalid
    inits = [T("acc", I32, [4], [10, 20, 30, 40]), S("s", 0.5), S("z", 7, I32)]
    save("bad", "zero-point-invalid__int32_nonzero",
         [N("DequantizeLinear", ["acc", "s", "z"], ["y"], "dq")], inits, [], [vi("y", F, [4])])
    save("bad", "zero-point-invalid__float8_nonzero",
         *qdq_pair(sq=0.5, zq=1.0, qtype=TP.FLOAT8E4M3FN, opset=19), opset=19)
    save("bad", "zero-point-invalid__float4_nonzero",
         *qdq_pair(sq=0.5, zq=1.0, qtype=TP.FLOAT4E2M1, opset=23), opset=23)
    nodes, inits, ins, outs = qdq_pair(sq=0.1, zq=-128, qtype=I8)
    save("bad", "zero-point-invalid__narrow_range", nodes, inits, ins, outs,
         annotations=[("xq", "q_scale", "q_zp", {"QUANT_RANGE": "narrow"})])
    nodes, inits, ins, outs = qdq_pair(sq=0.1, zq=20, qtype=U8)
    save("bad", "zero-point-invalid__declared_range", nodes, inits, ins, outs,
         annotations=[("xq", "q_scale", "q_zp", {"QUANT_RANGE": "0,15"})])
    # ---- param-shape
    save("bad", "param-shape__per_axis_length",
         *qdq_pair(scale_q=T("q_scale", F, [2], [0.1, 0.2]), zp_q=T("q_zp", U8, [2], [0, 0]),
                   q_attrs={"axis": 1}, d_attrs={"axis": 1}))
    save("bad", "param-shape__zp_vs_scale",
         *qdq_pair(scale_q=T("q_scale", F, [3], [0.1, 0.2, 0.3]), zp_q=T("q_zp", U8, [1, 3], [0, 0, 0]),
                   q_attrs={"axis": 1}, d_attrs={"axis": 1}))
    save("bad", "param-shape__axis_out_of_range",
         *qdq_pair(scale_q=T("q_scale", F, [3], [0.1, 0.2, 0.3]), zp_q=T("q_zp", U8, [3], [0, 0, 0]),
                   q_attrs={"axis": 2}, d_attrs={"axis": 2}))
    save("bad", "param-shape__opset10_per_axis",
         *qdq_pair(scale_q=T("q_scale", F, [3], [0.1, 0.2, 0.3]), zp_q=T("q_zp", U8, [3], [0, 0, 0])), opset=10)
    wq = rng.integers(-8, 8, size=(8, 4))
    inits = [T("w_q", TP.INT4, [8, 4], wq), T("w_scale", F, [3, 4], rng.uniform(0.01, 0.1, (3, 4))),
             T("w_zp", TP.INT4, [3, 4], [0] * 12)]
    save("bad", "param-shape__blocked",
         [N("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], "dq_w", axis=0, block_size=4),
          N("MatMul", ["x", "w"], ["y"], "mm")], inits, [vi("x", F, [2, 8])], [vi("y", F, [2, 4])], opset=21)
    save("bad", "param-shape__qlinearconv_w_scale",
         *qop_conv_chain(w_scale1=T("w1_scale", F, [3], [0.01, 0.02, 0.03])))
    save("bad", "param-shape__2d_without_block",
         *qdq_pair(scale_q=T("q_scale", F, [2, 3], [0.1] * 6), zp_q=T("q_zp", U8, [2, 3], [0] * 6)), opset=21)
    # ---- param-type
    save("bad", "param-type__zp_type_differs",
         *qdq_pair(zp_d=S("d_zp", 3, I8), scale_d=S("d_scale", 0.1)))
    save("bad", "param-type__float16_scale_opset13", *qdq_pair(scale_q=T("q_scale", F16, [], [0.1])))
    save("bad", "param-type__scale_not_x_type_opset19",
         *qdq_pair(scale_q=T("q_scale", F16, [], [0.1]), opset=19), opset=19)
    save("bad", "param-type__int16_opset13", *qdq_pair(sq=0.01, zq=0, qtype=TP.INT16))
    save("bad", "param-type__qlinearconv_bias_int8", *qop_conv_chain(b_type=I8, bias1=[1, 2, 3, 4]))
    save("bad", "param-type__qlinearconv_float16_scale", *qop_conv_chain(x_scale1_type=F16))
    # ---- tensor-params-conflict
    save("bad", "tensor-params-conflict__q_dq_scale", *qdq_pair(sq=0.1, sd=0.2))
    save("bad", "tensor-params-conflict__q_dq_zero_point", *qdq_pair(zq=3, zd=4))
    save("bad", "tensor-params-conflict__qoperator_chain", *qop_conv_chain(sy1=0.05, sx2=0.07))
    save("bad", "tensor-params-conflict__qoperator_through_reshape",
         *qop_conv_chain(sy1=0.05, zx2=5, through=[("Reshape", ["shp"], [T("shp", TP.INT64, [4], [1, 4, 8, 8])], {})]))
    nodes, inits, ins, outs = qdq_conv()
    nodes[-1] = N("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["yd"], "dq_y")
    inits += [S("mp_scale", 0.04)]
    nodes += [N("MaxPool", ["yd"], ["mp"], "maxpool", kernel_shape=[2, 2], strides=[2, 2]),
              N("QuantizeLinear", ["mp", "mp_scale", "y_zp"], ["mpq"], "q_mp"),
              N("DequantizeLinear", ["mpq", "mp_scale", "y_zp"], ["y"], "dq_mp")]
    save("bad", "tensor-params-conflict__qdq_maxpool", nodes, inits, ins, [vi("y", F, [1, 4, 4, 4])])
    inits = [T("w", I8, [2, 2], [1, 2, 3, 4]), S("s1", 0.1), S("s2", 0.2), S("z", 0, I8)]
    save("bad", "tensor-params-conflict__two_dq_one_weight",
         [N("DequantizeLinear", ["w", "s1", "z"], ["w1"], "dq1"), N("DequantizeLinear", ["w", "s2", "z"], ["w2"], "dq2"),
          N("Add", ["w1", "w2"], ["y"], "add")], inits, [], [vi("y", F, [2, 2])])
    # ---- bias-scale-mismatch
    save("bad", "bias-scale-mismatch__per_tensor", *qdq_conv(sb=0.0002 * 1.01))
    save("bad", "bias-scale-mismatch__per_channel",
         *qdq_conv(per_channel=True, sb=[0.0002, 0.0004, 0.0007, 0.0008]))
    save("bad", "bias-scale-mismatch__zero_point", *qdq_conv(zb=5))
    inits = [S("x_scale", 0.1), S("x_zp", 0, I8), T("w_q", I8, [3, 4], rng.integers(-127, 128, (3, 4))),
             S("w_scale", 0.05), S("w_zp", 0, I8), T("b_q", I32, [4], [1, 2, 3, 4]), S("b_scale", 0.01),
             S("b_zp", 0, I32)]
    nodes = [N("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], "q_x"),
             N("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xf"], "dq_x"),
             N("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wf"], "dq_w"),
             N("DequantizeLinear", ["b_q", "b_scale", "b_zp"], ["bf"], "dq_b"),
             N("Gemm", ["xf", "wf", "bf"], ["y"], "gemm")]
    save("bad", "bias-scale-mismatch__gemm", nodes, inits, [vi("x", F, [2, 3])], [vi("y", F, [2, 4])])
    # ---- annotation-mismatch
    nodes, inits, ins, outs = qdq_pair()
    save("bad", "annotation-mismatch__missing_tensor", nodes, inits, ins, outs,
         annotations=[("no_such_tensor", "q_scale", "q_zp", {})])
    inits2 = inits + [S("other_scale", 0.3)]
    save("bad", "annotation-mismatch__wrong_scale", nodes, inits2, ins, outs,
         annotations=[("xq", "other_scale", "q_zp", {})])
    save("bad", "annotation-mismatch__missing_zero_point_tensor", nodes, inits, ins, outs,
         annotations=[("xq", "q_scale", "no_such_zp", {})])
    save("bad", "annotation-mismatch__not_quantized", nodes + [N("Relu", ["y"], ["r"], "relu")], inits, ins,
         [vi("r", F, [2, 3])], annotations=[("r", "q_scale", "q_zp", {})])
    save("bad", "annotation-mismatch__no_scale_key", nodes, inits, ins, outs,
         annotations=[("xq", None, "q_zp", {})])
    # ---- accumulator-overflow
    K = 65794  # 65794 * 255 * 128 > 2^31 - 1
    inits = [T("b", I8, [K, 1], np.full(K, -128)), S("a_zp", 0, U8), S("b_zp", 0, I8)]
    save("bad", "accumulator-overflow__matmulinteger_k",
         [N("MatMulInteger", ["a", "b", "a_zp", "b_zp"], ["y"], "mmi")], inits, [vi("a", U8, [1, K])],
         [vi("y", I32, [1, 1])], opset=10)
    w1 = np.full((4, 3, 3, 3), 127)
    save("bad", "accumulator-overflow__qlinearconv_bias",
         *qop_conv_chain(w1=w1, bias1=[2147480000, 0, 0, 0]))
    wbig = np.full((1, 1024, 9, 9), -128)
    save("bad", "accumulator-overflow__qdq_conv", *qdq_conv(w=wbig, bias=[0], zx=0))
    # ---- dynamic-params
    nodes, inits, ins, outs = qdq_pair()
    inits = [S("q_zp", 3, U8), S("num", 1.0), S("den", 10.0)]
    save("bad", "dynamic-params__computed_scale", [N("Div", ["num", "den"], ["q_scale"], "div")] + nodes, inits,
         ins, outs)
    nodes, inits, ins, outs = qdq_pair()
    save("bad", "dynamic-params__graph_input_zero_point", nodes, [i for i in inits if i.name != "q_zp"],
         ins + [vi("q_zp", U8, [])], outs)
    nodes, inits, ins, outs = qop_conv_chain()
    save("bad", "dynamic-params__qlinearconv_scale_input", nodes, [i for i in inits if i.name != "y1_scale"],
         ins + [vi("y1_scale", F, [])], outs)


if __name__ == "__main__":
    for kind in ("good", "bad"):
        shutil.rmtree(os.path.join(HERE, kind), ignore_errors=True)
        os.makedirs(os.path.join(HERE, kind))
    gen_good()
    gen_bad()
    for kind in ("good", "bad"):
        print(kind, len(os.listdir(os.path.join(HERE, kind))))
