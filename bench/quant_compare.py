#!/usr/bin/env python3
"""qlinear quantize next to ONNX Runtime's own quantizer, on the same models,
data and options.

For every model and configuration this
  1. quantizes with `qlinear quantize` and with onnxruntime.quantization
     (quantize_static / quantize_dynamic) from the same calibration samples;
  2. compares the scales and zero points of every tensor both tools quantized
     (matched by tensor name: both name a Q input, and <w>_quantized for a
     weight, after the float tensor);
  3. runs the float model and both quantized models in ONNX Runtime on the
     evaluation samples and prints each one's output SQNR against float
     (the worst output of the model, in dB), and runs qlinear's model in
     qlinear too (`qlinear run`) to check that both runtimes agree on it.

Sample sets come from bench/prep_calib.py (DATA/<model>/{calib,eval}).

Usage:
  python3 bench/prep_calib.py /tmp/qz-data
  python3 bench/quant_compare.py --data /tmp/qz-data [--qlinear build/qlinear]
         [--models m1,m2] [--configs minmax,...]   (prints a markdown table)
  python3 bench/quant_compare.py --fixture tests/data/quant
         (writes ONNX Runtime's MinMax parameters for MNIST, QDQ per channel and
          per tensor, calibrated on data/mnist-calib: the reference values
          tests/scripts/test-quantize.sh checks qlinear against)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper as nh
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("QL_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
MODELS = ["mnist-float", "yunet-float", "ultraface-rfb320-float", "ppocr-mobile-cls-float", "nanodet-plus-float"]

# name -> (qlinear options, ORT options)
CONFIGS = {
    # quantize_static's defaults exactly: QDQ, s8 activations (asymmetric), s8 weights (symmetric), per tensor
    "minmax-pt": dict(method="minmax", fmt="qdq", per_channel=False),
    "minmax": dict(method="minmax", fmt="qdq", per_channel=True),
    # the same without qlinear's channel equalization, which renames (and rescales) the tensors it touches:
    # every tensor both tools quantize is then compared
    "minmax-noeq": dict(method="minmax", fmt="qdq", per_channel=True, ql_args=["--no-equalize"]),
    "entropy": dict(method="entropy", fmt="qdq", per_channel=True),
    "percentile": dict(method="percentile", fmt="qdq", per_channel=True),
    "qoperator": dict(method="minmax", fmt="qoperator", per_channel=True),
    # qlinear's own MSE-optimal activation ranges (no ORT equivalent: the ORT column is its MinMax per channel)
    "mse": dict(method="mse", fmt="qdq", per_channel=True, ort_method="minmax"),
    "dynamic": dict(dynamic=True, per_channel=False),
}
ORT_METHOD = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}


def sample_dirs(d):
    return [os.path.join(d, s) for s in sorted(os.listdir(d)) if os.path.isdir(os.path.join(d, s))]


def load_sample(d, names):
    feeds = {}
    for k, n in enumerate(names):
        t = onnx.TensorProto()
        with open(os.path.join(d, f"input_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        feeds[n] = nh.to_array(t)
    return feeds


def input_names(path):
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [i.name for i in m.graph.input if i.name not in inits]


class Reader(CalibrationDataReader):
    def __init__(self, d, names):
        self.dirs, self.names, self.i = sample_dirs(d), names, 0

    def get_next(self):
        if self.i >= len(self.dirs):
            return None
        self.i += 1
        return load_sample(self.dirs[self.i - 1], self.names)


def ort_loads(path):
    try:
        ort_session(path, False)
        return True
    except Exception:  # noqa: BLE001
        return False


def ort_quantize(float_path, out, cfg, calib_dir):
    """Returns a note when ORT needed help: below opset 13 it upgrades to 11
    only and still writes per-channel DequantizeLinear with `axis` (an opset-13
    attribute), which ONNX Runtime itself then refuses to load; ORT is then
    given the float model converted to opset 13 by onnx.version_converter."""
    _ort_quantize(float_path, out, cfg, calib_dir)
    if ort_loads(out):
        return ""
    m = onnx.load(float_path)
    if max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 13:
        return "ORT output does not load"
    from onnx import version_converter
    m13 = version_converter.convert_version(m, 13)
    p13 = out + ".opset13-float.onnx"
    onnx.save(m13, p13)
    os.replace(out, out + ".params.onnx")  # its parameters still compare (qlinear follows ORT at the model's opset)
    try:
        _ort_quantize(p13, out, cfg, calib_dir)
    except Exception as e:  # noqa: BLE001
        return f"ORT's opset-11 per-channel output does not load, and ORT fails on an opset-13 copy ({str(e)[:80]})"
    return "ORT's opset-11 per-channel output does not load: its parameters are compared, its SQNR is that of an opset-13 copy"


def _ort_quantize(float_path, out, cfg, calib_dir):
    if cfg.get("dynamic"):
        quantize_dynamic(float_path, out, per_channel=cfg["per_channel"], weight_type=QuantType.QInt8)
        return
    quantize_static(float_path, out, Reader(calib_dir, input_names(float_path)),
                    quant_format=QuantFormat.QDQ if cfg["fmt"] == "qdq" else QuantFormat.QOperator,
                    per_channel=cfg["per_channel"], activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, calibrate_method=ORT_METHOD[cfg.get("ort_method", cfg["method"])])


def qlinear_quantize(ql, float_path, out, cfg, calib_dir, eval_dir, threads):
    cmd = [ql, "quantize", float_path, out, "--json", "--threads", str(threads)]
    if cfg.get("dynamic"):
        cmd += ["--dynamic"]
        if eval_dir:
            cmd += ["--eval", eval_dir]
    else:
        cmd += ["--calib", calib_dir, "--method", cfg["method"], "--format", cfg["fmt"]]
        if eval_dir:
            cmd += ["--eval", eval_dir]
    if cfg["per_channel"]:
        cmd += ["--per-channel"]
    cmd += cfg.get("ql_args", [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout)


def params(path):
    """{float tensor name: (kind, scale array, zero point array)} of a QDQ model."""
    m = onnx.load(path)
    inits = {i.name: nh.to_array(i) for i in m.graph.initializer}
    out = {}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and len(n.input) >= 3 and n.input[1] in inits:
            name = n.input[0]
            if name.endswith("_QuantizeLinear_Input"):
                name = name[: -len("_QuantizeLinear_Input")]
            out[name] = ("activation", inits[n.input[1]], inits[n.input[2]])
        elif n.op_type == "DequantizeLinear" and n.input[0] in inits and n.input[0].endswith("_quantized"):
            name = n.input[0][: -len("_quantized")]
            kind = "bias" if inits[n.input[0]].dtype == np.int32 else "weight"
            zp = inits[n.input[2]] if len(n.input) > 2 and n.input[2] in inits else np.zeros(1, np.int32)
            out[name] = (kind, inits[n.input[1]], zp)
    return out


def compare_params(a, b):
    """Tensors both tools quantized the same way (same parameter shape and
    type). A constant that qlinear folds (e.g. MNIST's reshaped MatMul
    weight) is an activation to ORT: per tensor, it compares; per channel,
    qlinear treats it as the weight it is and it counts as `role_differs`."""
    both = sorted(set(a) & set(b))
    common = [k for k in both if a[k][1].size == b[k][1].size and a[k][2].dtype == b[k][2].dtype]
    res = dict(common=len(common), role_differs=len(both) - len(common), exact=0, zp_diff=0, max_rel=0.0,
               worst="", only_qlinear=len(set(a) - set(b)), only_ort=len(set(b) - set(a)))
    for k in common:
        (_, sa, za), (_, sb, zb) = a[k], b[k]
        sa, za, sb, zb = sa.ravel(), za.ravel(), sb.ravel(), zb.ravel()  # a scalar and a [1] compare
        if sa.shape != sb.shape or za.shape != zb.shape:
            res["zp_diff"] += 1
            res["worst"] = k + " (shape)"
            res["max_rel"] = float("inf")
            continue
        rel = float(np.max(np.abs(sa.astype(np.float64) - sb) / np.maximum(np.abs(sb.astype(np.float64)), 1e-30)))
        if np.array_equal(sa.view(np.uint32), sb.view(np.uint32)) and np.array_equal(za, zb):
            res["exact"] += 1
        if not np.array_equal(za.astype(np.int64), zb.astype(np.int64)):
            res["zp_diff"] += 1
        if rel > res["max_rel"]:
            res["max_rel"], res["worst"] = rel, k
    return res


def ort_session(path, optimize):
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run_all(sess, dirs, names):
    return [sess.run(None, load_sample(d, names)) for d in dirs]


def sqnr(ref, got):
    """Worst output's SQNR in dB (signal and noise summed over the samples)."""
    worst = float("inf")
    for j in range(len(ref[0])):
        s = sum(float(np.sum(r[j].astype(np.float64) ** 2)) for r in ref)
        n = sum(float(np.sum((r[j].astype(np.float64) - g[j]) ** 2)) for r, g in zip(ref, got))
        db = float("inf") if n == 0 else 10 * np.log10(s / n) if s > 0 else float("-inf")
        worst = min(worst, db)
    return worst


def qlinear_run(ql, model, dirs, n_out, tmp, threads):
    outs = []
    for d in dirs:
        od = os.path.join(tmp, "qlrun")
        subprocess.run([ql, "run", model, "--inputs", d, "-o", od, "--threads", str(threads)], check=True,
                       capture_output=True)
        res = []
        for j in range(n_out):
            t = onnx.TensorProto()
            with open(os.path.join(od, f"output_{j}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            res.append(nh.to_array(t))
        outs.append(res)
    return outs


def mnist_accuracy(ql, model, threads):
    d = os.path.join(SHARED, "data", "mnist")
    r = subprocess.run([ql, "accuracy", model, "--raw-u8", os.path.join(d, "images-u8-28x28.bin"), "--labels",
                        os.path.join(d, "labels-u8.bin"), "--json", "--threads", str(threads)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["accuracy"] * 100


def fmt_db(x):
    return "inf" if x == float("inf") else f"{x:.2f}"


def write_fixture(d, ql_calib):
    """ORT's MinMax QDQ parameters for MNIST (per channel and per tensor) as
    line-oriented JSON."""
    for cname, fn in (("minmax", "mnist-ort-minmax-qdq-perchannel.json"),
                      ("minmax-pt", "mnist-ort-minmax-qdq-pertensor.json")):
        write_fixture1(os.path.join(d, fn), ql_calib, CONFIGS[cname])


def write_fixture1(path, ql_calib, cfg):
    fp = os.path.join(SHARED, "models", "mnist-float.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ort.onnx")
        _ort_quantize(fp, out, cfg, ql_calib)
        p = params(out)
    with open(path, "w") as f:
        f.write("[\n")
        keys = sorted(p)
        for i, k in enumerate(keys):
            kind, s, z = p[k]
            f.write(json.dumps({"tensor": k, "kind": kind, "scale": [float(v) for v in s.ravel()],
                                "zero_point": [int(v) for v in z.ravel()]}))
            f.write(",\n" if i + 1 < len(keys) else "\n")
        f.write("]\n")
    print(f"wrote {path}: {len(p)} tensors (onnxruntime {ort.__version__})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/qz-data")
    ap.add_argument("--qlinear", default=os.path.join(ROOT, "build", "qlinear"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ql-eval", type=int, default=4, help="evaluation samples run through `qlinear run`")
    ap.add_argument("--json-out")
    ap.add_argument("--fixture", help="write ORT's MNIST MinMax parameters into this directory and exit")
    a = ap.parse_args()
    if a.fixture:
        write_fixture(a.fixture, os.path.join(ROOT, "data", "mnist-calib"))
        return
    rows = []
    print(f"onnxruntime {ort.__version__}; qlinear {a.qlinear}", flush=True)
    hdr = ("| model | config | common tensors | bit-equal | max scale diff | zp differ | "
           "SQNR ORT (dB) | SQNR qlinear (dB) | qlinear run vs ORT run (dB) | notes |")
    print(hdr, flush=True)
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for model in a.models.split(","):
        fp = os.path.join(SHARED, "models", model + ".onnx")
        calib = os.path.join(a.data, model, "calib")
        evald = os.path.join(a.data, model, "eval")
        names = input_names(fp)
        dirs = sample_dirs(evald)
        ref = run_all(ort_session(fp, False), dirs, names)
        with tempfile.TemporaryDirectory() as tmp:
            # qlinear's own report runs on a few samples (qlinear's float runtime is the slow part)
            small = os.path.join(tmp, "eval-small")
            os.makedirs(small)
            for d in dirs[: a.ql_eval]:
                os.symlink(d, os.path.join(small, os.path.basename(d)))
            for cname in a.configs.split(","):
                cfg = CONFIGS[cname]
                qo, oo = os.path.join(tmp, f"{cname}-qlinear.onnx"), os.path.join(tmp, f"{cname}-ort.onnx")
                row = dict(model=model, config=cname)
                t0 = time.time()
                try:
                    qrep = qlinear_quantize(a.qlinear, fp, qo, cfg, calib, small, a.threads)
                    row["qlinear_verify_errors"] = qrep["verify"]["errors"]
                except Exception as e:  # noqa: BLE001
                    row["qlinear_error"] = str(e)
                row["qlinear_seconds"] = round(time.time() - t0, 1)
                t0 = time.time()
                try:
                    row["ort_note"] = ort_quantize(fp, oo, cfg, calib)
                except Exception as e:  # noqa: BLE001
                    row["ort_error"] = str(e).splitlines()[0][:200]
                row["ort_seconds"] = round(time.time() - t0, 1)
                if cfg.get("ort_method"):
                    row["note"] = f"ORT column: its {cfg['ort_method']} (no {cfg['method']} method)"
                if ("qlinear_error" not in row and "ort_error" not in row and cfg.get("fmt", "") == "qdq"
                        and not cfg.get("ort_method")):
                    po = oo + ".params.onnx" if os.path.exists(oo + ".params.onnx") else oo
                    if not os.path.exists(oo):
                        row["ort_error"] = "no loadable ORT model"
                    row["params"] = compare_params(params(qo), params(po))
                for who, path in (("ort", oo), ("qlinear", qo)):
                    if f"{who}_error" in row:
                        continue
                    try:
                        got = run_all(ort_session(path, True), dirs, names)
                        row[f"sqnr_{who}_in_ort"] = sqnr(ref, got)
                    except Exception as e:  # noqa: BLE001
                        row[f"{who}_ort_run_error"] = str(e).splitlines()[0][:200]
                if "qlinear_error" not in row:
                    sub = dirs[: a.ql_eval]
                    mine = qlinear_run(a.qlinear, qo, sub, len(ref[0]), tmp, a.threads)
                    row["sqnr_qlinear_in_qlinear"] = sqnr(ref[: len(sub)], mine)
                    try:  # same model, both runtimes (both fuse DQ -> Conv -> Q into integer kernels)
                        theirs = run_all(ort_session(qo, True), sub, names)
                        row["qlinear_vs_ort_run_db"] = sqnr(theirs, mine)
                    except Exception as e:  # noqa: BLE001
                        row["qlinear_ort_plain_error"] = str(e).splitlines()[0][:200]
                    if model == "mnist-float":
                        row["mnist_acc_qlinear"] = mnist_accuracy(a.qlinear, qo, a.threads)
                        if cname == a.configs.split(",")[0]:
                            row["mnist_acc_float"] = mnist_accuracy(a.qlinear, fp, a.threads)
                rows.append(row)
                p = row.get("params")
                extra = "; ".join(f"{k}: {v}" for k, v in row.items() if k.endswith("error") or
                                  (k in ("ort_note", "note") and v))
                if "mnist_acc_qlinear" in row:
                    extra += ("; " if extra else "") + f"MNIST accuracy {row['mnist_acc_qlinear']:.2f}%"
                    if "mnist_acc_float" in row:
                        extra += f" (float {row['mnist_acc_float']:.2f}%)"
                print(f"| {model} | {cname} | {p['common'] if p else '-'} | "
                      f"{p['exact'] if p else '-'} | {('%.1e' % p['max_rel']) if p else '-'} | "
                      f"{p['zp_diff'] if p else '-'} | {fmt_db(row.get('sqnr_ort_in_ort', float('nan')))} | "
                      f"{fmt_db(row.get('sqnr_qlinear_in_ort', float('nan')))} | "
                      f"{fmt_db(row.get('qlinear_vs_ort_run_db', float('nan')))} | {extra} |", flush=True)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(rows, f, indent=1, default=str)


if __name__ == "__main__":
    main()
