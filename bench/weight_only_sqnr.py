#!/usr/bin/env python3
"""How far int8 weights alone take a float model, measured in ONNX Runtime.

    python3 bench/weight_only_sqnr.py MODEL.onnx DATA_DIR [--samples 8] [--top 8]

Every Conv/Gemm/MatMul weight of MODEL is rounded to int8 the way a
per-channel symmetric quantizer does (scale = max|w| / 127 per output
channel, round half to even, clip to [-127, 127]) and put back in float;
activations stay float. The script prints the SQNR of each output against
the float model on DATA_DIR/eval/*/input_0.pb (bench/prep_calib.py's layout),
then the weights that cost the most when they alone are rounded. It is an
upper bound on what any int8-weight model can reach with these weights
(qlinear's or ONNX Runtime's), independent of qlinear.
"""
import argparse
import glob

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--top", type=int, default=8)
    a = ap.parse_args()
    m = onnx.load(a.model)
    # weights held by Constant nodes (PaddleOCR's) become initializers
    for n in [n for n in m.graph.node if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"]:
        t = onnx.TensorProto()
        t.CopyFrom(n.attribute[0].t)
        t.name = n.output[0]
        m.graph.initializer.append(t)
        m.graph.node.remove(n)
    xs = [numpy_helper.to_array(onnx.load_tensor(p))
          for p in sorted(glob.glob(a.data + "/eval/*/input_0.pb"))[: a.samples]]
    names = [o.name for o in m.graph.output]

    def run(model):
        so = ort.SessionOptions()
        so.log_severity_level = 3
        s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        n = s.get_inputs()[0].name
        return [s.run(None, {n: x}) for x in xs]

    ref = run(m)

    def sqnr(outs):
        r = []
        for j in range(len(names)):
            sig = sum(float((f[j].astype(np.float64) ** 2).sum()) for f in ref)
            noi = sum(float(((f[j].astype(np.float64) - q[j]) ** 2).sum()) for f, q in zip(ref, outs))
            r.append(10 * np.log10(sig / noi) if noi > 0 else float("inf"))
        return r

    inits = {i.name for i in m.graph.initializer}
    weights = [n.input[1] for n in m.graph.node
               if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1 and n.input[1] in inits]

    def round_w(w):
        axes = tuple(range(1, w.ndim))
        s = np.abs(w).max(axis=axes, keepdims=True) / 127.0
        s[s == 0] = 1
        return (np.clip(np.round(w / s), -127, 127) * s).astype(np.float32)

    def with_rounded(chosen):
        mm = onnx.ModelProto()
        mm.CopyFrom(m)
        for i in mm.graph.initializer:
            if i.name in chosen:
                i.CopyFrom(numpy_helper.from_array(round_w(numpy_helper.to_array(i)), i.name))
        return mm

    print(f"{a.model}: {len(weights)} weights, {len(xs)} samples")
    allw = sqnr(run(with_rounded(set(weights))))
    print("all weights int8, activations float: worst output %.2f dB" % min(allw))
    for n, d in zip(names, allw):
        print(f"  {n:28s} {d:7.2f} dB")
    one = sorted((min(sqnr(run(with_rounded({w})))), w) for w in weights)
    print(f"the {a.top} weights that cost the most alone (worst output):")
    for d, w in one[: a.top]:
        print(f"  {w:48s} {d:7.2f} dB")


if __name__ == "__main__":
    main()
