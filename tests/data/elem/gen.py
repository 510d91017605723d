#!/usr/bin/env python3
"""Generates the elementwise/reduce/shape-op fixtures in ONNX node-test layout
(model.onnx, test_data_set_0/input_N.pb, output_N.pb) for schema versions the
ONNX backend node tests do not cover (attribute forms, legacy broadcast,
2-D coerced Softmax, ...).

Expected outputs come from onnxruntime when it runs the model, else from the
onnx reference evaluator, else from the numpy expression written beside the
case (hand-derived from the operator spec). SOURCES.txt records which.
Run: python3 gen.py  (from any directory; writes next to this file)."""
import os, shutil
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))
sources = []


def make_case(name, opset, op, inputs, attrs=None, n_out=1, expected=None, prefer="ort"):
    """inputs: list of (name, array or None for omitted)."""
    inputs = [(n, None if a is None else np.ascontiguousarray(a) if a.dtype != object else a) for n, a in inputs]
    attrs = attrs or {}
    in_names = [n if a is not None else "" for n, a in inputs]
    outs = ["y%d" % i for i in range(n_out)]
    node = helper.make_node(op, in_names, outs, **attrs)
    g_in = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in inputs if a is not None]
    g_out = [helper.make_empty_tensor_value_info(o) for o in outs]
    graph = helper.make_graph([node], name, g_in, g_out)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 15 else 8
    feeds = {n: a for n, a in inputs if a is not None}
    res, src = None, None
    if expected is not None and prefer == "hand":
        res, src = expected(), "hand (numpy per spec)"
    if res is None and prefer == "ort":
        try:
            import onnxruntime as ort
            sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            res, src = sess.run(None, feeds), "onnxruntime " + ort.__version__
        except Exception as e:  # noqa: BLE001
            print(name, type(e).__name__, str(e)[:200])
            res = None
    if res is None:
        try:
            from onnx.reference import ReferenceEvaluator
            res, src = ReferenceEvaluator(model).run(None, feeds), "onnx reference " + onnx.__version__
        except Exception as e:  # noqa: BLE001
            print(name, type(e).__name__, str(e)[:200])
            res = None
    if res is None:
        if expected is None:
            raise RuntimeError("no reference for " + name)
        res, src = expected(), "hand (numpy per spec)"
    if not isinstance(res, (list, tuple)):
        res = [res]
    # the declared output types must match what the reference produced
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.asarray(r).dtype), None)
                         for o, r in zip(outs, res)])
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    k = 0
    for n, a in inputs:
        if a is None:
            continue
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % k), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a), n).SerializeToString())
        k += 1
    for i, r in enumerate(res):
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % i), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(r), outs[i]).SerializeToString())
    sources.append("%-40s opset %-2d %-16s %s" % (name, opset, op, src))


rng = np.random.default_rng(7)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
A4 = f32(2, 3, 4, 5)

# ---- Clip: attributes before 11, optional inputs after; integer types from 12
make_case("clip_v6_attrs", 6, "Clip", [("x", f32(3, 4) * 3)], {"min": -1.5, "max": 2.0},
          )
xinf = np.array([-np.inf, -1e30, 0.5, 1e30, np.inf], np.float32)
make_case("clip_v6_default_bounds", 6, "Clip", [("x", xinf)],
          expected=lambda: [np.clip(xinf, np.finfo(np.float32).min, np.finfo(np.float32).max)], prefer="hand")
make_case("clip_v11_min_only", 11, "Clip", [("x", f32(3, 4)), ("min", np.array(-0.2, np.float32))])
make_case("clip_v11_max_only", 11, "Clip", [("x", f32(3, 4)), ("min", None), ("max", np.array(0.3, np.float32))])
make_case("clip_v12_int32", 12, "Clip", [("x", np.arange(-6, 6, dtype=np.int32).reshape(3, 4)),
                                          ("min", np.array(-2, np.int32)), ("max", np.array(3, np.int32))])
make_case("clip_v13_uint8_max", 13, "Clip", [("x", np.array([0, 7, 200, 255], np.uint8)), ("min", None),
                                              ("max", np.array(100, np.uint8))])
make_case("clip_v13_int64_min_gt_max", 13, "Clip", [("x", np.array([-5, 0, 5], np.int64)),
                                                     ("min", np.array(4, np.int64)), ("max", np.array(1, np.int64))])

# ---- legacy broadcast (opset < 7): broadcast=1 with axis, hand-derived from the spec text
B34 = f32(3, 4)
make_case("add_v6_bcast_axis1", 6, "Add", [("a", A4), ("b", B34)], {"broadcast": 1, "axis": 1},
          expected=lambda: [A4 + B34.reshape(1, 3, 4, 1)], prefer="hand")
B5 = f32(5)
make_case("mul_v6_bcast_suffix", 6, "Mul", [("a", A4), ("b", B5)], {"broadcast": 1},
          expected=lambda: [A4 * B5], prefer="hand")
S1 = np.array([2.0], np.float32)
make_case("sub_v1_bcast_scalar", 1, "Sub", [("a", A4), ("b", S1)], {"broadcast": 1},
          expected=lambda: [A4 - 2.0], prefer="hand")
B2 = np.array([1.0, -1.0], np.float32)
make_case("div_v6_bcast_axis0", 6, "Div", [("a", A4), ("b", B2)], {"broadcast": 1, "axis": 0},
          expected=lambda: [A4 / B2.reshape(2, 1, 1, 1)], prefer="hand")

# ---- integer arithmetic
ia = np.array([-7, -7, 7, 7, -8, 0], np.int32)
ib = np.array([2, -2, 2, -2, 3, 5], np.int32)
make_case("div_int32_trunc", 14, "Div", [("a", ia), ("b", ib)])
make_case("mod_int32_fmod0", 13, "Mod", [("a", ia), ("b", ib)], {"fmod": 0})
make_case("mod_int32_fmod1", 13, "Mod", [("a", ia), ("b", ib)], {"fmod": 1})
make_case("mod_float_fmod1", 13, "Mod", [("a", ia.astype(np.float32) + 0.5), ("b", ib.astype(np.float32))], {"fmod": 1})
make_case("pow_int32_int32", 15, "Pow", [("a", np.array([2, -3, 5, 0], np.int32)), ("b", np.array([10, 3, 0, 4], np.int32))])
make_case("pow_float_int64", 15, "Pow", [("a", f32(4)), ("b", np.array([0, 1, 2, 3], np.int64))])
make_case("add_uint8_wrap", 14, "Add", [("a", np.array([250, 3], np.uint8)), ("b", np.array([10, 4], np.uint8))])
make_case("neg_int8", 13, "Neg", [("x", np.array([-128, -1, 0, 127], np.int8))])
make_case("abs_int16", 13, "Abs", [("x", np.array([-300, 0, 5], np.int16))])
make_case("sign_int64", 13, "Sign", [("x", np.array([-9, 0, 4], np.int64))])
make_case("relu_int32_v14", 14, "Relu", [("x", np.array([-9, 0, 4], np.int32))])

# ---- variadic ops with broadcasting (opset 8+), older ones need equal shapes
make_case("sum_v8_bcast3", 8, "Sum", [("a", f32(2, 3)), ("b", f32(3)), ("c", f32(2, 1))])
make_case("mean_v8_bcast", 8, "Mean", [("a", f32(2, 3)), ("b", f32(1, 3))])
make_case("max_v12_int32_bcast", 12, "Max", [("a", np.array([[1, 5], [7, -2]], np.int32)), ("b", np.array([3, 0], np.int32))])
make_case("min_v6_same_shape", 6, "Min", [("a", B34), ("b", B34[::-1].copy())],
          expected=lambda: [np.minimum(B34, B34[::-1])], prefer="hand")

# ---- PRelu, Selu defaults per version
make_case("prelu_v9_channel_slope", 9, "PRelu", [("x", f32(2, 3, 2, 2)), ("slope", np.array([0.1, 0.2, 0.3], np.float32).reshape(3, 1, 1))])
make_case("selu_v6_defaults", 6, "Selu", [("x", f32(3, 4))])
make_case("gelu_v20_tanh", 20, "Gelu", [("x", f32(3, 4))], {"approximate": "tanh"})
make_case("hardswish_v14", 14, "HardSwish", [("x", f32(3, 4) * 4)])

# ---- comparisons and Where
make_case("equal_v11_float", 11, "Equal", [("a", np.array([1.0, 2.0, np.nan], np.float32)), ("b", np.array([1.0, 3.0, np.nan], np.float32))])
make_case("greater_v9_int64_bcast", 9, "Greater", [("a", np.array([[1, 5], [7, -2]], np.int64)), ("b", np.array([3, 0], np.int64))])
make_case("less_v7_bcast", 7, "Less", [("a", f32(2, 3)), ("b", f32(3))])
make_case("where_v16_int64_bcast", 16, "Where", [("c", np.array([[True], [False]])), ("x", np.array([1, 2, 3], np.int64)), ("y", np.array([[7, 8, 9], [10, 11, 12]], np.int64))])
make_case("where_v9_string", 9, "Where", [("c", np.array([True, False])), ("x", np.array(["a", "b"], object)), ("y", np.array(["c", "dd"], object))])
make_case("equal_v19_string", 19, "Equal", [("a", np.array(["a", "bc", ""], object)), ("b", np.array(["a", "b", ""], object))])

# ---- reductions: axes attribute (before 13/18), input after, noop_with_empty_axes
X3 = f32(2, 3, 4)
make_case("reduce_sum_v11_attr_nokeep", 11, "ReduceSum", [("x", X3)], {"axes": [0, 2], "keepdims": 0})
make_case("reduce_sum_v1_all", 1, "ReduceSum", [("x", X3)], expected=lambda: [X3.sum(keepdims=True)], prefer="hand")
make_case("reduce_min_v13_attr_neg", 13, "ReduceMin", [("x", X3)], {"axes": [-1]})
make_case("reduce_max_v12_int8", 12, "ReduceMax", [("x", np.array([[-128, 5], [7, 127]], np.int8))], {"axes": [1]})
make_case("reduce_mean_v13_int32", 13, "ReduceMean", [("x", np.array([[1, 2, 4], [-1, -2, -4]], np.int32))], {"axes": [1]})
make_case("reduce_max_v18_noop", 18, "ReduceMax", [("x", X3), ("axes", np.array([], np.int64))], {"noop_with_empty_axes": 1})
make_case("reduce_mean_v18_axes_input", 18, "ReduceMean", [("x", X3), ("axes", np.array([1], np.int64))], {"keepdims": 0})
make_case("reduce_prod_v13_attr", 13, "ReduceProd", [("x", X3)], {"axes": [1]})
make_case("reduce_l2_v11", 11, "ReduceL2", [("x", X3)], {"axes": [2]})
make_case("reduce_logsumexp_v13", 13, "ReduceLogSumExp", [("x", X3 * 50)], {"axes": [1]})
make_case("argmax_v11_neg_axis", 11, "ArgMax", [("x", X3)], {"axis": -2, "keepdims": 0})
make_case("argmin_v12_last_index", 12, "ArgMin", [("x", np.array([[2, 1, 1], [0, 0, 3]], np.int32))], {"axis": 1, "select_last_index": 1})

# ---- Softmax family: 2-D coercion before 13
make_case("softmax_v11_axis1_coerced", 11, "Softmax", [("x", X3)], {"axis": 1})
make_case("softmax_v11_default_axis", 11, "Softmax", [("x", X3)])
make_case("logsoftmax_v11_axis0", 11, "LogSoftmax", [("x", X3)], {"axis": 0})
make_case("hardmax_v11_axis1", 11, "Hardmax", [("x", X3)], {"axis": 1})
make_case("softmax_v13_axis1", 13, "Softmax", [("x", X3)], {"axis": 1})

# ---- shape ops
make_case("squeeze_v11_attr", 11, "Squeeze", [("x", f32(1, 3, 1, 2))], {"axes": [-2]})
make_case("squeeze_v1_all", 1, "Squeeze", [("x", f32(1, 3, 1, 2))])
make_case("unsqueeze_v11_attr", 11, "Unsqueeze", [("x", f32(3, 2))], {"axes": [0, -1]})
make_case("reshape_v5_zero_neg", 5, "Reshape", [("x", f32(2, 3, 4)), ("s", np.array([0, -1], np.int64))])
R = f32(2, 3, 4)
make_case("reshape_v1_attr", 1, "Reshape", [("x", R)], {"shape": [4, 0, -1]},
          expected=lambda: [R.reshape(4, 3, 2)], prefer="hand")
make_case("reshape_v14_allowzero_empty", 14, "Reshape", [("x", np.zeros((0, 3), np.float32)), ("s", np.array([3, 0], np.int64))], {"allowzero": 1})
make_case("flatten_v9_axis0", 9, "Flatten", [("x", f32(2, 3, 2))], {"axis": 0})
make_case("flatten_v13_neg_axis", 13, "Flatten", [("x", f32(2, 3, 2))], {"axis": -1})
make_case("concat_v4_axis1", 4, "Concat", [("a", f32(2, 1, 2)), ("b", f32(2, 3, 2)), ("c", np.zeros((2, 0, 2), np.float32))], {"axis": 1})
C1, C2 = f32(2, 2), f32(2, 3)
make_case("concat_v1_default_axis", 1, "Concat", [("a", C1), ("b", C2)],
          expected=lambda: [np.concatenate([C1, C2], axis=1)], prefer="hand")
make_case("split_v2_attr", 2, "Split", [("x", np.arange(12, dtype=np.float32).reshape(2, 6))], {"axis": 1, "split": [1, 2, 3]}, n_out=3)
make_case("split_v11_equal_neg_axis", 11, "Split", [("x", np.arange(12, dtype=np.float32).reshape(2, 6))], {"axis": -1}, n_out=3)
make_case("split_v13_input", 13, "Split", [("x", np.arange(10, dtype=np.int64)), ("split", np.array([4, 0, 6], np.int64))], n_out=3)
make_case("split_v18_num_outputs_uneven", 18, "Split", [("x", np.arange(7, dtype=np.float32))], {"num_outputs": 3}, n_out=3)
S = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
make_case("slice_v9_attrs", 9, "Slice", [("x", S)], {"starts": [1, -100], "ends": [1000, -1], "axes": [0, 2]})
make_case("slice_v1_no_axes", 1, "Slice", [("x", S)], {"starts": [0, 1], "ends": [2, 3]},
          expected=lambda: [S[0:2, 1:3]], prefer="hand")
make_case("slice_v13_int32_neg_steps", 13, "Slice", [("x", S), ("s", np.array([-1, 10], np.int32)), ("e", np.array([-1000, 0], np.int32)),
                                                     ("a", np.array([2, 1], np.int32)), ("st", np.array([-2, -3], np.int32))])
make_case("transpose_v13_default", 13, "Transpose", [("x", S)])
make_case("transpose_v1_perm", 1, "Transpose", [("x", S)], {"perm": [1, 0, 2]},
          expected=lambda: [S.transpose(1, 0, 2)], prefer="hand")
make_case("expand_v8_bidirectional", 8, "Expand", [("x", f32(3, 1)), ("s", np.array([2, 1, 4], np.int64))])
make_case("tile_v6", 6, "Tile", [("x", f32(2, 3)), ("r", np.array([2, 3], np.int64))],
          )
T1 = f32(2, 3)
make_case("tile_v1_float_tiles_axis", 1, "Tile", [("x", T1), ("t", np.array(2, np.float32)), ("a", np.array(1, np.float32))],
          expected=lambda: [np.tile(T1, (1, 2))], prefer="hand")
SP1 = np.arange(12, dtype=np.float32).reshape(6, 2)
make_case("split_v1_float_split_input", 1, "Split", [("x", SP1), ("s", np.array([2, 4], np.float32))], {"axis": 0}, n_out=2,
          expected=lambda: [SP1[:2], SP1[2:]], prefer="hand")
PD1 = np.arange(6, dtype=np.float32).reshape(2, 3)
make_case("pad_v1_paddings_edge", 1, "Pad", [("x", PD1)], {"paddings": [1, 0, 0, 2], "mode": "edge"},
          expected=lambda: [np.pad(PD1, ((1, 0), (0, 2)), mode="edge")], prefer="hand")
CL1 = f32(3, 4) * 3
make_case("clip_v1_min_only", 1, "Clip", [("x", CL1)], {"min": -0.5},
          expected=lambda: [np.maximum(CL1, np.float32(-0.5))], prefer="hand")
make_case("gather_v13_neg_int32", 13, "Gather", [("x", S), ("i", np.array([[-1, 0], [2, -4]], np.int32))], {"axis": 1})
make_case("gather_v11_scalar_index", 11, "Gather", [("x", S), ("i", np.array(-1, np.int64))], {"axis": 0})
make_case("gather_elements_v13_neg", 13, "GatherElements", [("x", S[:, :2, :]), ("i", np.array([[[0, -1, 2, 3, -5]], [[1, 1, 1, -1, 0]]], np.int64))], {"axis": 2})
P = np.arange(12, dtype=np.float32).reshape(3, 4)
make_case("pad_v11_edge", 11, "Pad", [("x", P), ("p", np.array([1, 2, 2, 1], np.int64))], {"mode": "edge"})
make_case("pad_v11_reflect", 11, "Pad", [("x", P), ("p", np.array([2, 3, 2, 3], np.int64))], {"mode": "reflect"})
make_case("pad_v11_constant_neg", 11, "Pad", [("x", P), ("p", np.array([-1, 1, 2, -2], np.int64)), ("v", np.array(9.5, np.float32))])
make_case("pad_v2_attr_constant", 2, "Pad", [("x", P)], {"pads": [0, 1, 1, 0], "value": -3.0})
make_case("pad_v18_axes", 18, "Pad", [("x", P), ("p", np.array([1, 2], np.int64)), ("v", None), ("a", np.array([-1], np.int64))], {"mode": "constant"})
make_case("pad_v19_wrap", 19, "Pad", [("x", P), ("p", np.array([1, 5, 2, 6], np.int64))], {"mode": "wrap"})
make_case("pad_v13_int32", 13, "Pad", [("x", P.astype(np.int32)), ("p", np.array([1, 0, 0, 1], np.int64)), ("v", np.array(-7, np.int32))])
make_case("constantofshape_int32", 9, "ConstantOfShape", [("s", np.array([2, 3], np.int64))],
          {"value": numpy_helper.from_array(np.array([-4], np.int32))})
make_case("constantofshape_default_scalar", 20, "ConstantOfShape", [("s", np.array([], np.int64))])
make_case("range_v11_int64_neg", 11, "Range", [("a", np.array(10, np.int64)), ("b", np.array(-3, np.int64)), ("d", np.array(-4, np.int64))])
make_case("range_v11_float", 11, "Range", [("a", np.array(0.5, np.float32)), ("b", np.array(2.0, np.float32)), ("d", np.array(0.25, np.float32))])
# onnxruntime returns an all-false mask for Dropout 7-11 at inference; the
# reference (and Dropout-12's definition: mask = kept elements) gives all true.
# Dropout 7-9 declares the mask of type T (the reference returns bool): ones of T.
D7 = f32(2, 3)
make_case("dropout_v7_mask", 7, "Dropout", [("x", D7)], n_out=2, prefer="hand",
          expected=lambda: [D7, np.ones_like(D7)])
make_case("dropout_v10_mask", 10, "Dropout", [("x", f32(2, 3))], {"ratio": 0.3}, n_out=2, prefer="ref")
make_case("dropout_v13_not_training", 13, "Dropout", [("x", f32(2, 3)), ("r", np.array(0.4, np.float32)), ("t", np.array(False))], n_out=2)
make_case("shape_v15_start", 15, "Shape", [("x", S)], {"start": -2})
make_case("size_v13", 13, "Size", [("x", S)])

with open(os.path.join(HERE, "SOURCES.txt"), "w") as f:
    f.write("# case, opset, op, source of the expected outputs (written by gen.py)\n")
    f.write("\n".join(sources) + "\n")
print("%d cases" % len(sources))
