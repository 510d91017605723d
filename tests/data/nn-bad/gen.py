#!/usr/bin/env python3
"""Malformed pool/norm/resize/control/rnn nodes: each case must be refused
with an error (qlinear test prints FAIL), quickly, without a crash or a
sanitizer report. Run by tests/scripts/test-nn-bad.sh.

Models are built with onnx.helper without checking, and carry inputs but no
expected outputs. Usage: python3 tests/data/nn-bad/gen.py
"""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = os.path.dirname(os.path.abspath(__file__))


def case(name, node, inputs, inits=(), opset=13, n_out=1):
    g = h.make_graph([node], name,
                     [h.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                      for n, a in inputs],
                     [h.make_tensor_value_info(o, T.UNDEFINED, None) for o in node.output[:n_out]], list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(m, os.path.join(d, "model.onnx"))
    for i, (n, a) in enumerate(inputs):
        onnx.save_tensor(nh.from_array(a, n), os.path.join(d, "test_data_set_0", f"input_{i}.pb"))


def f32(*shape):
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) / 7


def main():
    for e in os.listdir(OUT):
        if os.path.isdir(os.path.join(OUT, e)):
            shutil.rmtree(os.path.join(OUT, e))
    x = [("x", f32(1, 2, 5, 5))]
    mp = lambda **a: h.make_node("MaxPool", ["x"], ["y"], **a)  # noqa: E731
    case("maxpool_no_kernel", mp(), x)
    case("maxpool_kernel_rank", mp(kernel_shape=[2]), x)
    case("maxpool_kernel_zero", mp(kernel_shape=[0, 2]), x)
    case("maxpool_kernel_huge", mp(kernel_shape=[1 << 40, 2]), x)
    case("maxpool_stride_zero", mp(kernel_shape=[2, 2], strides=[0, 1]), x)
    case("maxpool_negative_pad", mp(kernel_shape=[2, 2], pads=[-1, 0, 0, 0]), x)
    case("maxpool_kernel_past_input", mp(kernel_shape=[9, 2]), x)
    case("maxpool_bad_auto_pad", mp(kernel_shape=[2, 2], auto_pad="SOMETIMES"), x)
    case("maxpool_rank2", mp(kernel_shape=[2]), [("x", f32(2, 5))])
    case("maxpool_int32", mp(kernel_shape=[2, 2]), [("x", np.zeros((1, 1, 3, 3), np.int32))], opset=12)
    case("averagepool_dilation_zero",
         h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[1, 0]), x, opset=19)
    case("lppool_p_zero", h.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 2], p=0), x, opset=18)
    case("maxunpool_index_out_of_range",
         h.make_node("MaxUnpool", ["x", "i"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
         [("x", f32(1, 1, 2, 2)), ("i", np.array([0, 1, 2, 99], np.int64).reshape(1, 1, 2, 2))], opset=11)
    case("maxunpool_output_shape_small",
         h.make_node("MaxUnpool", ["x", "i", "s"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
         [("x", f32(1, 1, 2, 2)), ("i", np.zeros((1, 1, 2, 2), np.int64)), ("s", np.array([1, 1, 3, 3], np.int64))],
         opset=11)

    bn_in = [nh.from_array(np.ones(3, np.float32), n) for n in ("s", "b", "m", "v")]
    case("batchnorm_param_size",
         h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"]), x, inits=bn_in, opset=15)
    case("instancenorm_rank2", h.make_node("InstanceNormalization", ["x", "s", "b"], ["y"]),
         [("x", f32(2, 3))], inits=bn_in[:2], opset=6)
    case("layernorm_axis", h.make_node("LayerNormalization", ["x", "s"], ["y"], axis=4), x,
         inits=[nh.from_array(np.ones(5, np.float32), "s")], opset=17)
    case("layernorm_scale_shape", h.make_node("LayerNormalization", ["x", "s"], ["y"]), x,
         inits=[nh.from_array(np.ones(4, np.float32), "s")], opset=17)
    case("groupnorm_groups", h.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3), x,
         inits=[nh.from_array(np.ones(2, np.float32), n) for n in ("s", "b")], opset=21)

    def rz(name, attrs, scales=None, sizes=None, roi=None, xin=x, opset=13):
        ins, inits = ["x", "", ""], []
        if roi is not None:
            ins[1] = "roi"
            inits.append(nh.from_array(np.array(roi, np.float32), "roi"))
        if scales is not None:
            ins[2] = "scales"
            inits.append(nh.from_array(np.array(scales, np.float32), "scales"))
        if sizes is not None:
            ins.append("sizes")
            inits.append(nh.from_array(np.array(sizes, np.int64), "sizes"))
        while ins[-1] == "":
            ins.pop()
        case(name, h.make_node("Resize", ins, ["y"], **attrs), xin, inits=inits, opset=opset)
    rz("resize_no_scales_or_sizes", {})
    rz("resize_both", {}, scales=[1, 1, 2, 2], sizes=[1, 2, 9, 9])
    rz("resize_scales_count", {}, scales=[2, 2])
    rz("resize_scale_zero", {}, scales=[1, 1, 0, 2])
    rz("resize_scale_nan", {}, scales=[1, 1, float("nan"), 2])
    rz("resize_scale_huge", {}, scales=[1, 1, 1e30, 1e30])
    rz("resize_sizes_negative", {}, sizes=[1, 2, -3, 4])
    rz("resize_sizes_huge", {}, sizes=[1, 2, 1 << 40, 1 << 40])
    rz("resize_bad_mode", dict(mode="bilinear"), scales=[1, 1, 2, 2])
    rz("resize_bad_ct", dict(coordinate_transformation_mode="nowhere"), scales=[1, 1, 2, 2])
    rz("resize_bad_nearest", dict(nearest_mode="sideways"), scales=[1, 1, 2, 2])
    rz("resize_crop_no_roi", dict(coordinate_transformation_mode="tf_crop_and_resize"), sizes=[1, 2, 3, 3])
    rz("resize_axes_repeated", dict(axes=[2, 2]), scales=[2, 2], opset=18)
    rz("resize_axes_range", dict(axes=[2, 7]), scales=[2, 2], opset=18)
    rz("resize_bad_policy", dict(keep_aspect_ratio_policy="maybe"), sizes=[1, 2, 3, 3], opset=18)
    case("upsample_scales_count", h.make_node("Upsample", ["x", "s"], ["y"]), x,
         inits=[nh.from_array(np.array([2, 2], np.float32), "s")], opset=9)

    then_g = h.make_graph([h.make_node("Constant", [], ["t"], value_float=1.0)], "then", [],
                          [h.make_tensor_value_info("t", T.FLOAT, None)])
    case("if_cond_two_values", h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=then_g),
         [("c", np.array([True, False]))])
    case("if_missing_else", h.make_node("If", ["c"], ["y"], then_branch=then_g), [("c", np.array(False))])
    two = h.make_graph([h.make_node("Constant", [], ["t"], value_float=1.0),
                        h.make_node("Constant", [], ["u"], value_float=2.0)], "two", [],
                       [h.make_tensor_value_info("t", T.FLOAT, None), h.make_tensor_value_info("u", T.FLOAT, None)])
    case("if_branch_outputs", h.make_node("If", ["c"], ["y"], then_branch=two, else_branch=two),
         [("c", np.array(True))])
    body = h.make_graph([h.make_node("Identity", ["c_in"], ["c_out"])], "body",
                        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("c_in", T.BOOL, [])],
                        [h.make_tensor_value_info("c_out", T.BOOL, [])])
    case("loop_body_arity", h.make_node("Loop", ["m", "c", "v"], ["y"], body=body),
         [("m", np.array(3, np.int64)), ("c", np.array(True)), ("v", f32(2))])
    case("loop_m_not_scalar", h.make_node("Loop", ["m", "c"], [], body=body),
         [("m", np.array([3, 4], np.int64)), ("c", np.array(True))], n_out=0)

    W = nh.from_array(np.ones((1, 12, 4), np.float32), "W")
    R = nh.from_array(np.ones((1, 12, 3), np.float32), "R")
    X = [("X", f32(2, 1, 4))]
    case("lstm_w_shape", h.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=3), X,
         inits=[nh.from_array(np.ones((1, 12, 5), np.float32), "W"), R], opset=14)
    case("lstm_hidden_size_mismatch", h.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=4), X, inits=[W, R],
         opset=14)
    case("lstm_seq_lens_range", h.make_node("LSTM", ["X", "W", "R", "", "sl"], ["Y"], hidden_size=3), X,
         inits=[W, R, nh.from_array(np.array([5], np.int32), "sl")], opset=14)
    case("lstm_bad_activation", h.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=3,
                                            activations=["Sigmoid", "Tanh", "Nope"]), X, inits=[W, R], opset=14)
    case("lstm_bad_direction", h.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=3, direction="up"), X,
         inits=[W, R], opset=14)
    case("gru_b_shape", h.make_node("GRU", ["X", "W", "R", "B"], ["Y"], hidden_size=3), X,
         inits=[nh.from_array(np.ones((1, 9, 4), np.float32), "W"), nh.from_array(np.ones((1, 9, 3), np.float32), "R"),
                nh.from_array(np.ones((1, 7), np.float32), "B")], opset=14)


if __name__ == "__main__":
    main()
