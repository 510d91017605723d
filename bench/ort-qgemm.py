#!/usr/bin/env python3
"""ONNX Runtime baseline for bench-qgemm: QLinearMatMul (u8 A x s8 B -> u8,
per-tensor) on the same shapes, 1 and 2 intra-op threads, median of
interleaved samples, GOPS = 2*M*N*K/t on the wall clock and per CPU second
(as bench-qgemm prints them). Not a test; needs onnx, onnxruntime, numpy.

  python3 bench/ort-qgemm.py [--reps 7] [--shape M,K,N ...]
"""
import argparse
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def model(m, k, n):
    rng = np.random.default_rng(0)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    inits = [
        numpy_helper.from_array(b, "b"),
        numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
        numpy_helper.from_array(np.array(7, np.uint8), "a_zp"),
        numpy_helper.from_array(np.array(0.01, np.float32), "b_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "b_zp"),
        numpy_helper.from_array(np.array(0.02 * 0.01 * k * 64, np.float32), "y_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "y_zp"),
    ]
    node = helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [m, n])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--shape", action="append")
    args = ap.parse_args()
    shapes = [tuple(map(int, s.split(","))) for s in args.shape] if args.shape else \
        [(1, 4096, 4096), (128, 768, 768), (512, 1024, 1024), (1024, 1024, 1024)]
    print(f"onnxruntime {ort.__version__}")
    print(f"{'M,K,N':16} {'thr':>3} {'ms(wall)':>9} {'GOPS':>9} {'cpuGOPS':>9}")
    for m, k, n in shapes:
        blob = model(m, k, n)
        sess = {}
        for t in (1, 2):
            so = ort.SessionOptions()
            so.intra_op_num_threads = t
            so.inter_op_num_threads = 1
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sess[t] = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
        a = np.random.default_rng(1).integers(0, 256, size=(m, k), dtype=np.uint8)
        samples = {t: ([], []) for t in sess}
        for r in range(-1, args.reps):
            for t, s in sess.items():
                it, t0, c0 = 0, time.perf_counter(), time.process_time()
                while True:
                    s.run(None, {"a": a})
                    it += 1
                    t1 = time.perf_counter()
                    if t1 - t0 >= 5e-3:
                        break
                if r >= 0:
                    samples[t][0].append((t1 - t0) / it)
                    samples[t][1].append((time.process_time() - c0) / it / t)
        ops = 2.0 * m * n * k
        for t, (w, c) in samples.items():
            w, c = sorted(w)[len(w) // 2], sorted(c)[len(c) // 2]
            print(f"{m},{k},{n}".ljust(16), f"{t:3d} {w * 1e3:9.3f} {ops / w * 1e-9:9.1f} {ops / c * 1e-9:9.1f}")


if __name__ == "__main__":
    main()
