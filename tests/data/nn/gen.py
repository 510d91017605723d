#!/usr/bin/env python3
"""Extra cases for the nn op families (pool, norm, resize, control, rnn) that
the ONNX node tests do not cover: older schema versions, int8/uint8 pooling,
Resize modes and scale factors, recurrent layers with every optional input,
If/Loop reading outer-scope values.

Each case is written as tests/data/nn/<case>/model.onnx plus
test_data_set_0/{input,output}_N.pb, run by tests/scripts/test-nn-cases.sh.
Expected outputs come from ONNX Runtime (CPU, optimizations off) where it
implements the case as the spec says, otherwise from the ONNX reference
evaluator (noted per case: `src`).

Usage: python3 tests/data/nn/gen.py
"""
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

OUT = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240601)
NP = {T.FLOAT: np.float32, T.UINT8: np.uint8, T.INT8: np.int8, T.DOUBLE: np.float64, T.BOOL: np.bool_,
      T.INT64: np.int64, T.INT32: np.int32}


def rand(shape, dt=T.FLOAT, lo=-5, hi=5):
    if dt in (T.UINT8, T.INT8, T.INT32, T.INT64):
        info = np.iinfo(NP[dt])
        return rng.integers(max(lo * 30, info.min), min(hi * 30, info.max) + 1, shape).astype(NP[dt])
    return rng.uniform(lo, hi, shape).astype(NP[dt])


def case(name, nodes, inputs, outputs, inits=(), opset=13, src="ort", extra_opsets=(), expected=None):
    """inputs: list of (name, array); outputs: list of (name, elem_type).
    src: "ort", "ref" (ONNX reference evaluator) or "given" (expected, worked
    out by hand / numpy)."""
    g = h.make_graph(nodes, name,
                     [h.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                      for n, a in inputs],
                     [h.make_tensor_value_info(n, t, None) for n, t in outputs], list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset), *extra_opsets])
    m.ir_version = 8
    feeds = {n: a for n, a in inputs}
    if src == "given":
        ys = expected
    elif src == "ort":
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        ys = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)
    else:
        ys = ReferenceEvaluator(m).run(None, feeds)
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(m, os.path.join(d, "model.onnx"))
    for i, (n, a) in enumerate(inputs):
        onnx.save_tensor(nh.from_array(a, n), os.path.join(d, "test_data_set_0", f"input_{i}.pb"))
    for j, ((n, _), y) in enumerate(zip(outputs, ys)):
        onnx.save_tensor(nh.from_array(np.asarray(y), n), os.path.join(d, "test_data_set_0", f"output_{j}.pb"))


def pool_cases():
    for dt in (T.INT8, T.UINT8):
        x = rand((1, 3, 7, 9), dt)
        case(f"maxpool_2d_{'int8' if dt == T.INT8 else 'uint8'}_pads_strides",
             [h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 2], pads=[1, 0, 1, 1], strides=[2, 2])],
             [("x", x)], [("y", dt)], opset=12)
    x = rand((2, 2, 6, 7))
    case("maxpool_2d_indices_col_major",
         [h.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2],
                      storage_order=1)], [("x", x)], [("y", T.FLOAT), ("i", T.INT64)], opset=12)
    case("maxpool_2d_indices_dilated_ceil",
         [h.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], dilations=[2, 1], strides=[2, 2],
                      ceil_mode=1)], [("x", x)], [("y", T.FLOAT), ("i", T.INT64)], opset=12)
    case("maxpool_v8_indices",
         [h.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 3], strides=[1, 2])], [("x", x)],
         [("y", T.FLOAT), ("i", T.INT64)], opset=8)
    case("maxpool_v1_same_lower",
         [h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 2], auto_pad="SAME_LOWER")],
         [("x", x)], [("y", T.FLOAT)], opset=1)
    case("averagepool_v7_same_lower_include_pad",
         [h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 1], auto_pad="SAME_LOWER",
                      count_include_pad=1)], [("x", x)], [("y", T.FLOAT)], opset=7)
    case("averagepool_v10_ceil_pads",
         [h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1],
                      ceil_mode=1)], [("x", x)], [("y", T.FLOAT)], opset=10)
    x1 = rand((1, 2, 11))
    case("averagepool_1d_include_pad_strides",
         [h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[4], strides=[3], pads=[2, 1],
                      count_include_pad=1)], [("x", x1)], [("y", T.FLOAT)], opset=11)
    x3 = rand((1, 2, 4, 5, 6))
    case("maxpool_3d_indices",
         [h.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2, 3], strides=[2, 1, 2], pads=[0, 1, 1, 1, 0, 1])],
         [("x", x3)], [("y", T.FLOAT), ("i", T.INT64)], opset=12)
    case("lppool_v2_p3", [h.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 2], p=3, strides=[2, 2])],
         [("x", x)], [("y", T.FLOAT)], opset=2)
    case("globallppool_p1", [h.make_node("GlobalLpPool", ["x"], ["y"], p=1)], [("x", x3)], [("y", T.FLOAT)], opset=2)
    case("globalmaxpool_3d", [h.make_node("GlobalMaxPool", ["x"], ["y"])], [("x", x3)], [("y", T.FLOAT)], opset=1)
    xd = rand((2, 3, 5, 4), T.DOUBLE)
    case("globalaveragepool_double", [h.make_node("GlobalAveragePool", ["x"], ["y"])], [("x", xd)],
         [("y", T.DOUBLE)], opset=1, src="ref")


def norm_cases():
    x = rand((2, 3, 4, 5))
    c = 3
    pars = [nh.from_array(rand((c,)), "s"), nh.from_array(rand((c,)), "b"), nh.from_array(rand((c,)), "m"),
            nh.from_array(rng.uniform(0.5, 2, (c,)).astype(np.float32), "v")]
    case("batchnorm_v9_momentum_inference",
         [h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3, momentum=0.8)],
         [("x", x)], [("y", T.FLOAT)], inits=pars, opset=9)
    case("batchnorm_v7_2d", [h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
         [("x", rand((4, 3)))], [("y", T.FLOAT)], inits=pars, opset=7)
    case("instancenorm_3d",
         [h.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-2)], [("x", rand((2, 3, 4, 3, 2)))],
         [("y", T.FLOAT)], inits=pars[:2], opset=6)
    case("layernorm_axis1_broadcast_stats",
         [h.make_node("LayerNormalization", ["x", "s2", "b2"], ["y", "mean", "inv"], axis=1, epsilon=1e-3)],
         [("x", x)], [("y", T.FLOAT), ("mean", T.FLOAT), ("inv", T.FLOAT)],
         inits=[nh.from_array(rand((3, 1, 5)), "s2"), nh.from_array(rand((4, 5)), "b2")], opset=17)
    case("groupnorm_v21", [h.make_node("GroupNormalization", ["x6", "s6", "b6"], ["y"], num_groups=2)],
         [("x6", rand((2, 6, 3, 2)))], [("y", T.FLOAT)],
         inits=[nh.from_array(rand((6,)), "s6"), nh.from_array(rand((6,)), "b6")], opset=21, src="ref")
    case("groupnorm_v18", [h.make_node("GroupNormalization", ["x6", "s3", "b3"], ["y"], num_groups=3, epsilon=1e-3)],
         [("x6", rand((2, 6, 3, 2)))], [("y", T.FLOAT)],
         inits=[nh.from_array(rand((3,)), "s3"), nh.from_array(rand((3,)), "b3")], opset=18, src="ref")
    case("lpnormalization_p1_axis1", [h.make_node("LpNormalization", ["x"], ["y"], axis=1, p=1)], [("x", x)],
         [("y", T.FLOAT)], opset=1)


def resize_case(name, opset, attrs, x, scales=None, sizes=None, roi=None, src="ort"):
    ins, inits = ["x"], []
    if opset >= 11:
        ins += ["roi" if roi is not None or opset < 13 else "", "scales" if scales is not None or opset < 13 else ""]
        if roi is not None or opset < 13:
            inits.append(nh.from_array(np.array(roi if roi is not None else [], np.float32), "roi"))
        if scales is not None or opset < 13:
            inits.append(nh.from_array(np.array(scales if scales is not None else [], np.float32), "scales"))
        if sizes is not None:
            ins.append("sizes")
            inits.append(nh.from_array(np.array(sizes, np.int64), "sizes"))
    else:
        ins.append("scales")
        inits.append(nh.from_array(np.array(scales, np.float32), "scales"))
    while ins[-1] == "":
        ins.pop()
    dt = onnx.helper.np_dtype_to_tensor_dtype(x.dtype)
    case(name, [h.make_node("Resize", ins, ["y"], **attrs)], [("x", x)], [("y", dt)], inits=inits, opset=opset,
         src=src)


def resize_cases():
    x = rand((1, 2, 5, 7))
    resize_case("resize_v10_nearest_up", 10, dict(mode="nearest"), x, scales=[1, 1, 2, 3])
    resize_case("resize_v10_nearest_down", 10, dict(mode="nearest"), x, scales=[1, 1, 0.5, 0.6])
    resize_case("resize_v10_linear", 10, dict(mode="linear"), x, scales=[1, 1, 1.7, 0.6])
    resize_case("resize_v11_tf_half_pixel_for_nn", 11,
                dict(mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="ceil"),
                x, scales=[1, 1, 2, 2])
    for mode in ("nearest", "linear", "cubic"):
        for ct in ("half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners"):
            resize_case(f"resize_v13_{mode}_{ct}_sizes", 13,
                        dict(mode=mode, coordinate_transformation_mode=ct, nearest_mode="round_prefer_ceil"), x,
                        sizes=[1, 2, 9, 4])
            resize_case(f"resize_v13_{mode}_{ct}_scales", 13,
                        dict(mode=mode, coordinate_transformation_mode=ct, nearest_mode="floor"), x,
                        scales=[1, 1, 2, 0.5], src="ref" if ct == "align_corners" else "ort")
    # align_corners/floor with non-integral in*scale: the reference's reading
    # (length_resized = in * scale); ONNX Runtime uses the integer length
    resize_case("resize_v13_linear_align_corners_frac_scale", 13,
                dict(mode="linear", coordinate_transformation_mode="align_corners"), x, scales=[1, 1, 1.7, 0.6],
                src="ref")
    resize_case("resize_v13_cubic_exclude_outside_a05", 13,
                dict(mode="cubic", exclude_outside=1, cubic_coeff_a=-0.5), x, scales=[1, 1, 1.7, 0.6])
    resize_case("resize_v13_linear_3d", 13, dict(mode="linear"), rand((2, 5, 7)), scales=[1.5, 2, 0.5])
    resize_case("resize_v13_crop_extrapolate", 13,
                dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-3.0),
                x[:, :1], sizes=[1, 1, 6, 6], roi=[0, 0, -0.2, 0.3, 1, 1, 0.9, 1.3])
    # integer inputs: ONNX Runtime truncates the interpolated value
    for dt in (T.UINT8, T.INT8):
        xi = rand((1, 2, 4, 5), dt)
        tn = "uint8" if dt == T.UINT8 else "int8"
        resize_case(f"resize_v13_linear_{tn}", 13,
                    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"), xi, scales=[1, 1, 2, 2])
        resize_case(f"resize_v13_nearest_{tn}", 13, dict(mode="nearest"), xi, scales=[1, 1, 3, 1.5])
    resize_case("resize_v13_nearest_int32", 13, dict(mode="nearest", nearest_mode="ceil"),
                rand((1, 2, 3, 4), T.INT32), scales=[1, 1, 2.5, 0.7])
    # nearest moves elements of any type: asymmetric + floor at integer
    # scales is numpy's repeat
    xs = np.array([["a", "bc"], ["", "def"]], dtype=object).reshape(1, 2, 2)
    xb = np.array([[True, False, True]]).reshape(1, 1, 3)
    for tag, xv, sc in (("string", xs, [1, 2, 3]), ("bool", xb, [2, 1, 2])):
        exp = xv
        for ax, k in enumerate(sc):
            exp = np.repeat(exp, k, axis=ax)
        case(f"resize_v13_nearest_{tag}_repeat",
             [h.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", nearest_mode="floor",
                          coordinate_transformation_mode="asymmetric")],
             [("x", xv)], [("y", T.STRING if tag == "string" else T.BOOL)],
             inits=[nh.from_array(np.array(sc, np.float32), "scales")], src="given", expected=[exp])
    resize_case("resize_v19_half_pixel_symmetric_axes", 19,
                dict(mode="linear", coordinate_transformation_mode="half_pixel_symmetric", axes=[3, 2]), x,
                scales=[0.6, 1.7], src="ref")
    resize_case("resize_v18_not_smaller_axes", 18,
                dict(mode="nearest", keep_aspect_ratio_policy="not_smaller", axes=[2, 3]), x, sizes=[7, 7], src="ref")
    resize_case("resize_v18_antialias_cubic_down", 18, dict(mode="cubic", antialias=1), rand((1, 1, 9, 11)),
                scales=[1, 1, 0.4, 0.7], src="ref")
    up = [("upsample_v7_nearest", 7, dict(mode="nearest", scales=[1.0, 1.0, 2.0, 3.0])),
          ("upsample_v7_linear", 7, dict(mode="linear", scales=[1.0, 1.0, 1.5, 2.0]))]
    for name, op, attrs in up:
        case(name, [h.make_node("Upsample", ["x"], ["y"], **attrs)], [("x", x)], [("y", T.FLOAT)], opset=op)
    case("upsample_v9_linear", [h.make_node("Upsample", ["x", "s"], ["y"], mode="linear")], [("x", x)],
         [("y", T.FLOAT)], inits=[nh.from_array(np.array([1, 1, 2, 2.5], np.float32), "s")], opset=9)


def rnn_case(name, op, opset, attrs, seq=4, batch=3, isz=5, hs=3, B=True, SL=None, H0=False, C0=False, P=False):
    nd = 2 if attrs.get("direction") == "bidirectional" else 1
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    X = rng.standard_normal((seq, batch, isz)).astype(np.float32)
    inits = [nh.from_array(rng.standard_normal((nd, G * hs, isz)).astype(np.float32), "W"),
             nh.from_array(rng.standard_normal((nd, G * hs, hs)).astype(np.float32), "R")]
    ins = ["X", "W", "R"]

    def opt(n, arr):
        if arr is None:
            ins.append("")
        else:
            ins.append(n)
            inits.append(nh.from_array(arr, n))
    opt("B", rng.standard_normal((nd, 2 * G * hs)).astype(np.float32) if B else None)
    opt("SL", np.array(SL, np.int32) if SL is not None else None)
    opt("H0", rng.standard_normal((nd, batch, hs)).astype(np.float32) if H0 else None)
    if op == "LSTM":
        opt("C0", rng.standard_normal((nd, batch, hs)).astype(np.float32) if C0 else None)
        opt("P", rng.standard_normal((nd, 3 * hs)).astype(np.float32) if P else None)
    while ins[-1] == "":
        ins.pop()
    outs = ["Y", "YH", "YC"] if op == "LSTM" else ["Y", "YH"]
    case(name, [h.make_node(op, ins, outs, hidden_size=hs, **attrs)], [("X", X)], [(o, T.FLOAT) for o in outs],
         inits=inits, opset=opset)


def rnn_cases():
    for op in ("LSTM", "GRU", "RNN"):
        for dr in ("forward", "reverse", "bidirectional"):
            rnn_case(f"{op.lower()}_{dr}_all_inputs", op, 14, dict(direction=dr), H0=True, C0=True, P=True,
                     SL=[4, 2, 3])
        rnn_case(f"{op.lower()}_v7_clip", op, 7, dict(direction="bidirectional", clip=0.7), H0=True)
    rnn_case("lstm_activations", "LSTM", 14,
             dict(direction="bidirectional", activations=["HardSigmoid", "LeakyRelu", "ScaledTanh"] * 2,
                  activation_alpha=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8], activation_beta=[0.2, 0.9, 0.1, 0.3]), H0=True)
    rnn_case("gru_activations", "GRU", 14,
             dict(activations=["Sigmoid", "Elu"], activation_alpha=[0.5]), H0=True)
    rnn_case("rnn_activation_relu", "RNN", 14, dict(activations=["Relu"]), H0=True)
    rnn_case("lstm_input_forget", "LSTM", 14, dict(input_forget=1), H0=True, C0=True, P=True)
    rnn_case("gru_linear_before_reset", "GRU", 14, dict(linear_before_reset=1, direction="bidirectional"), H0=True,
             SL=[1, 4, 2])
    rnn_case("lstm_zero_length", "LSTM", 14, dict(direction="bidirectional"), H0=True, C0=True, SL=[0, 4, 2])


def control_cases():
    # If whose branches read outer-scope values
    then_g = h.make_graph([h.make_node("Add", ["a", "b"], ["t"])], "then", [],
                          [h.make_tensor_value_info("t", T.FLOAT, None)])
    else_g = h.make_graph([h.make_node("Mul", ["a", "b"], ["e"])], "else", [],
                          [h.make_tensor_value_info("e", T.FLOAT, None)])
    a, b = rand((2, 3)), rand((2, 3))
    for v in (True, False):
        case(f"if_outer_scope_{str(v).lower()}",
             [h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
             [("c", np.array(v)), ("a", a), ("b", b)], [("y", T.FLOAT)], opset=13)
    # Loop: trip count and condition, a carried value, a scan output, an outer value
    body = h.make_graph(
        [h.make_node("Add", ["acc_in", "step"], ["acc_out"]),
         h.make_node("ReduceSum", ["acc_out"], ["s"], keepdims=0),
         h.make_node("Less", ["s", "limit"], ["cond_out"]),
         h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT),
         h.make_node("Mul", ["acc_out", "fi"], ["scan"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("acc_in", T.FLOAT, [3])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("acc_out", T.FLOAT, [3]),
         h.make_tensor_value_info("scan", T.FLOAT, [3])])
    step = np.array([0.5, 1.0, 1.5], np.float32)
    for name, m, cond in (("loop_trip_and_cond", 10, True), ("loop_cond_stops", 100, True),
                          ("loop_zero_trips", 0, True)):
        case(name, [h.make_node("Loop", ["m", "c", "acc0"], ["acc", "scans"], body=body)],
             [("m", np.array(m, np.int64)), ("c", np.array(cond)), ("acc0", np.zeros(3, np.float32)),
              ("step", step), ("limit", np.array(20.0 if name != "loop_trip_and_cond" else 1e9, np.float32))],
             [("acc", T.FLOAT), ("scans", T.FLOAT)], opset=13)


def main():
    for e in os.listdir(OUT):
        if os.path.isdir(os.path.join(OUT, e)):
            shutil.rmtree(os.path.join(OUT, e))
    pool_cases()
    norm_cases()
    resize_cases()
    rnn_cases()
    control_cases()


if __name__ == "__main__":
    main()
