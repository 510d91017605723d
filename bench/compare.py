#!/usr/bin/env python3
"""qlinear against ONNX Runtime on the models of bench/gen_models.py.

  python3 bench/compare.py --build BUILD_DIR --models MODELS_DIR
      [--threads 1,2] [--rounds 5] [--target-ms 100] [--only REGEX]
      [--probe PROBE.json] [--markdown OUT.md] [--json [OUT.json]]

Both runtimes live in this one process: qlinear through ctypes on
BUILD_DIR/libqlinear.so (ql_session_run_into is called directly; ctypes drops
the GIL during the call), ONNX Runtime through its Python API. Both sessions
of every case and thread count are created and warmed up first and stay open;
then each of --rounds rounds sweeps all of them, timing per case a qlinear
block, then an ORT block. A block runs as many calls as fit in --target-ms (at
least one), and every call is one sample. The table shows the median of all
samples. Sweeping all cases per round spreads an episode of host load (they
last seconds on this VM) over one round of a few cases instead of every sample
of one case.

ORT is set up to be fast: ORT_ENABLE_ALL, intra_op_num_threads = inter-op 1,
sequential execution, inputs and pre-allocated outputs bound once with IO
binding, then run_with_iobinding per call. What a call costs ORT through Python
(and qlinear through ctypes) is measured on a one-element Identity model and
reported, not subtracted.

Only the run call is timed on both sides, and both write into outputs bound
once: qlinear's output tensors are created once after a first ql_session_run
(which gives their shapes) and every timed call is ql_session_run_into, the
counterpart of ORT's IO binding. The warm-up calls also let qlinear size its
reusable intermediate buffers (a session's arena), as ORT's arena grows in its
warm-up.

The machine's int8 peak (bench/probe.c) is read at the start (--probe) and,
with --probe-lib, again in every round of every case, after qlinear's and
ORT's blocks: the table's "% of peak" is taken against the median of those
in-case readings (the start-of-run peak is in the header). On an AMX machine
the round's two blocks are also bracketed by a health check, the same multiplies with
their tiles loaded from L1: a core of this VM sometimes runs tile loads 3-5x
slower for seconds to minutes while the register-resident peak stays, and
every AMX kernel (ORT's too) slows with it. A round whose check reads below
--degraded-below of the peak is dropped for both runtimes and run again
(at most --extra-rounds more per case); the table gives the rounds kept and,
in brackets, how many were degraded. When no clean round was had, all are
kept.

Session creation time and peak RSS (getrusage ru_maxrss) of the real models are
measured in fresh subprocesses: `qlinear bench --json` and this script with
--ort-child.
"""
import argparse
import ctypes
import gc
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

# ------------------------------------------------------------------ qlinear via ctypes

QL_MAX_RANK = 8
NP_TO_QL = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6,
            np.dtype(np.int64): 7, np.dtype(np.bool_): 9, np.dtype(np.float16): 10, np.dtype(np.float64): 11}


class QlTensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("rank", ctypes.c_int), ("dims", ctypes.c_int64 * QL_MAX_RANK),
                ("numel", ctypes.c_int64), ("data", ctypes.c_void_p), ("name", ctypes.c_char_p),
                ("flags_", ctypes.c_uint32), ("map_len_", ctypes.c_size_t), ("map_base_", ctypes.c_void_p)]


class QlError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class QlOptions(ctypes.Structure):
    _fields_ = [("threads", ctypes.c_int), ("reference_only", ctypes.c_int), ("isa", ctypes.c_char_p),
                ("max_tensor_bytes", ctypes.c_uint64)]


TP = ctypes.POINTER(QlTensor)


def load_lib(path):
    lib = ctypes.CDLL(path)
    lib.ql_model_load_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                       ctypes.POINTER(QlError)]
    lib.ql_model_free.argtypes = [ctypes.c_void_p]
    lib.ql_session_create.argtypes = [ctypes.c_void_p, ctypes.POINTER(QlOptions), ctypes.POINTER(ctypes.c_void_p),
                                      ctypes.POINTER(QlError)]
    lib.ql_session_free.argtypes = [ctypes.c_void_p]
    lib.ql_session_input_count.argtypes = [ctypes.c_void_p]
    lib.ql_session_input_count.restype = ctypes.c_size_t
    lib.ql_session_output_count.argtypes = [ctypes.c_void_p]
    lib.ql_session_output_count.restype = ctypes.c_size_t
    lib.ql_session_input_name.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.ql_session_input_name.restype = ctypes.c_char_p
    lib.ql_tensor_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64),
                                     ctypes.POINTER(TP), ctypes.POINTER(QlError)]
    lib.ql_tensor_free.argtypes = [TP]
    lib.ql_session_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(TP), ctypes.c_size_t, ctypes.POINTER(TP),
                                   ctypes.c_size_t, ctypes.POINTER(QlError)]
    lib.ql_session_run_into.argtypes = [ctypes.c_void_p, ctypes.POINTER(TP), ctypes.c_size_t, ctypes.POINTER(TP),
                                        ctypes.c_size_t, ctypes.POINTER(QlError)]
    for f in ("ql_model_load_file", "ql_session_create", "ql_tensor_create", "ql_session_run", "ql_session_run_into"):
        getattr(lib, f).restype = ctypes.c_int
    return lib


class QlSession:
    def __init__(self, lib, path, threads, feeds, isa=None):
        self.lib, self.sess, self.ins = lib, ctypes.c_void_p(), []
        err, model = QlError(), ctypes.c_void_p()
        if lib.ql_model_load_file(path.encode(), None, ctypes.byref(model), ctypes.byref(err)):
            raise RuntimeError(err.msg.decode(errors="replace"))
        opt = QlOptions(threads, 0, isa.encode() if isa else None, 0)
        t0 = time.perf_counter()
        st = lib.ql_session_create(model, ctypes.byref(opt), ctypes.byref(self.sess), ctypes.byref(err))
        self.create_ms = (time.perf_counter() - t0) * 1e3
        lib.ql_model_free(model)
        if st:
            raise RuntimeError(err.msg.decode(errors="replace"))
        ni, self.no = lib.ql_session_input_count(self.sess), lib.ql_session_output_count(self.sess)
        self.in_arr = (TP * max(ni, 1))()
        self.out_arr = (TP * max(self.no, 1))()
        for i in range(ni):
            name = lib.ql_session_input_name(self.sess, i).decode()
            a = np.ascontiguousarray(feeds[name])
            dims = (ctypes.c_int64 * QL_MAX_RANK)(*a.shape)
            t = TP()
            if lib.ql_tensor_create(NP_TO_QL[a.dtype], a.ndim, dims, ctypes.byref(t), ctypes.byref(err)):
                raise RuntimeError(err.msg.decode(errors="replace"))
            ctypes.memmove(t.contents.data, a.ctypes.data, a.nbytes)
            self.ins.append(t)
            self.in_arr[i] = t
        self.ni, self.err = ni, err
        # one plain run gives the output shapes; the outputs it returned are
        # kept and bound to every later call (as ORT's IO binding)
        if lib.ql_session_run(self.sess, self.in_arr, self.ni, self.out_arr, self.no, ctypes.byref(err)):
            raise RuntimeError(err.msg.decode(errors="replace"))
        self.outs = [self.out_arr[j] for j in range(self.no)]

    def run(self):
        """One call into the bound outputs; returns its time in ms."""
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        st = self.lib.ql_session_run_into(self.sess, self.in_arr, self.ni, self.out_arr, self.no,
                                          ctypes.byref(self.err))
        t1, c1 = time.perf_counter_ns(), time.process_time_ns()
        if st:
            raise RuntimeError(self.err.msg.decode(errors="replace"))
        return (t1 - t0) * 1e-6, (c1 - c0) * 1e-6

    def close(self):
        for t in self.ins + getattr(self, "outs", []):
            self.lib.ql_tensor_free(t)
        self.ins, self.outs = [], []
        self.lib.ql_session_free(self.sess)


# ------------------------------------------------------------------ ONNX Runtime

def ort_options(ort, threads):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return so


class OrtSession:
    def __init__(self, ort, path, threads, feeds):
        t0 = time.perf_counter()
        self.sess = ort.InferenceSession(path, ort_options(ort, threads), providers=["CPUExecutionProvider"])
        self.create_ms = (time.perf_counter() - t0) * 1e3
        outs = self.sess.run(None, feeds)
        self.io = self.sess.io_binding()
        self.keep = []
        for name, a in feeds.items():
            v = ort.OrtValue.ortvalue_from_numpy(a)
            self.keep.append(v)
            self.io.bind_ortvalue_input(name, v)
        for o, val in zip(self.sess.get_outputs(), outs):
            v = ort.OrtValue.ortvalue_from_numpy(np.empty_like(val))
            self.keep.append(v)
            self.io.bind_ortvalue_output(o.name, v)

    def run(self):
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        self.sess.run_with_iobinding(self.io)
        t1, c1 = time.perf_counter_ns(), time.process_time_ns()
        return (t1 - t0) * 1e-6, (c1 - c0) * 1e-6

    def close(self):
        self.io = self.sess = None
        self.keep = []


def make_feeds(ort_sess, seed=0x5EED):
    """Same seeded random inputs for both runtimes; symbolic dims -> 1."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in ort_sess.get_inputs():
        shape = [d if isinstance(d, int) and d >= 0 else 1 for d in i.shape]
        t = i.type
        if t == "tensor(uint8)":
            a = rng.integers(0, 256, size=shape, dtype=np.uint8)
        elif t == "tensor(int8)":
            a = rng.integers(-128, 128, size=shape, dtype=np.int8)
        elif t == "tensor(float)":
            a = rng.uniform(-1, 1, size=shape).astype(np.float32)
        elif t == "tensor(float16)":
            a = rng.uniform(-1, 1, size=shape).astype(np.float16)
        else:
            raise RuntimeError(f"input {i.name}: no random generator for {t}")
        feeds[i.name] = a
    return feeds


# ------------------------------------------------------------------ timing

def block(fn, n):
    return [fn() for _ in range(n)]


def calls_for(est_ms, target_ms, max_calls):
    return max(1, min(max_calls, int(target_ms / max(est_ms, 1e-3))))


def pct(v, q):
    v = sorted(v)
    pos = q * (len(v) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def summary(samples):
    wall = [w for w, _ in samples]
    return {"median_ms": statistics.median(wall), "p10_ms": pct(wall, 0.1), "p90_ms": pct(wall, 0.9),
            "min_ms": min(wall), "n": len(wall), "cpu_median_ms": statistics.median(c for _, c in samples)}


class Pair:
    """One case at one thread count: both sessions, kept open for the whole
    run, and the samples of every round."""

    def __init__(self, lib, ort, case, threads, args):
        self.case, self.threads, self.args = case, threads, args
        self.q = self.o = None
        self.rounds = []
        probe_sess = ort.InferenceSession(case["path"], ort_options(ort, 1), providers=["CPUExecutionProvider"])
        feeds = make_feeds(probe_sess)
        del probe_sess
        self.q = QlSession(lib, case["path"], threads, feeds, args.isa)
        self.o = OrtSession(ort, case["path"], threads, feeds)
        # warm-up; the last warm-up call sizes the blocks
        est_q = [self.q.run() for _ in range(args.warmup)][-1][0]
        est_o = [self.o.run() for _ in range(max(args.warmup, 3))][-1][0]
        self.nq = calls_for(est_q, args.target_ms, args.max_calls)
        self.no = calls_for(est_o, args.target_ms, args.max_calls)

    def round(self):
        a = self.args
        rd = {"health": [a.health_fn()] if a.health_fn else []}
        rd["q"] = block(self.q.run, self.nq)
        time.sleep(0.01)  # let ORT's and qlinear's pool threads stop spinning
        if a.health_fn:
            rd["health"].append(a.health_fn())
        rd["o"] = block(self.o.run, self.no)
        time.sleep(0.01)
        if a.probe_fn:
            rd["peak"] = a.probe_fn()
        if a.health_fn:
            rd["health"].append(a.health_fn())
            rd["degraded"] = min(rd["health"]) < a.degraded_below * rd["peak"]
        self.rounds.append(rd)

    def clean_rounds(self):
        return sum(not rd.get("degraded") for rd in self.rounds)

    def result(self):
        c = self.case
        use = [rd for rd in self.rounds if not rd.get("degraded")] or self.rounds
        r = {"case": c["name"], "op": c["op"], "shape": c["shape"], "ops": c["ops"], "threads": self.threads,
             "qlinear": summary([x for rd in use for x in rd["q"]]),
             "ort": summary([x for rd in use for x in rd["o"]]),
             "rounds": len(use), "rounds_degraded": len(self.rounds) - self.clean_rounds()}
        if "peak" in use[0]:
            r["probe_gops"] = statistics.median(rd["peak"] for rd in use)
        r["ratio"] = r["ort"]["median_ms"] / r["qlinear"]["median_ms"]
        r["cpu_ratio"] = r["ort"]["cpu_median_ms"] / max(r["qlinear"]["cpu_median_ms"], 1e-6)
        return r

    def close(self):
        for s in (self.q, self.o):
            if s:
                s.close()
        self.q = self.o = None


def overhead(lib, ort, ident, threads, n=2000):
    ort_s = ort.InferenceSession(ident, ort_options(ort, threads), providers=["CPUExecutionProvider"])
    feeds = make_feeds(ort_s)
    del ort_s
    q, o = QlSession(lib, ident, threads, feeds), OrtSession(ort, ident, threads, feeds)
    try:
        for _ in range(100):
            q.run()
            o.run()
        gc.disable()
        sq = [q.run() for _ in range(n)]
        so = [o.run() for _ in range(n)]
        gc.enable()
        return {"threads": threads, "qlinear_us": statistics.median(w for w, _ in sq) * 1e3,
                "ort_us": statistics.median(w for w, _ in so) * 1e3}
    finally:
        q.close()
        o.close()


# ------------------------------------------------------------------ creation time and peak RSS

def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def ort_child(path, threads, runs):
    """Runs in a fresh process: creation time and peak RSS of ORT alone."""
    import onnxruntime as ort
    base = maxrss_kb()
    t0 = time.perf_counter()
    s = ort.InferenceSession(path, ort_options(ort, threads), providers=["CPUExecutionProvider"])
    create_ms = (time.perf_counter() - t0) * 1e3
    feeds = make_feeds(s)
    for _ in range(runs):
        s.run(None, feeds)
    print(json.dumps({"create_ms": create_ms, "peak_rss_kb": maxrss_kb(), "base_rss_kb": base}))


def run_fresh(cmd):
    """Runs cmd as a grandchild through sh: Linux carries the peak RSS of the
    forking process across exec (a direct child of this Python process would
    report at least Python's peak), a child forked by a small sh does not."""
    return subprocess.run(["sh", "-c", '"$@"; exit $?', "sh"] + cmd, capture_output=True, text=True)


def footprint(case, args, qlinear_cli):
    out = {"case": case["name"]}
    p = run_fresh([qlinear_cli, "bench", case["path"], "--json", "--threads", "1", "--runs", "1", "--warmup", "1"]
                       + (["--isa", args.isa] if args.isa else []))
    if p.returncode == 0:
        d = json.loads(p.stdout.strip().splitlines()[-2])
        out["qlinear"] = {"create_ms": d["create_ms"], "load_ms": d["load_ms"], "peak_rss_kb": d["peak_rss_kb"]}
    else:
        out["qlinear"] = {"error": p.stderr.strip()[-300:]}
    p = run_fresh([sys.executable, os.path.abspath(__file__), "--ort-child", case["path"], "--threads", "1"])
    out["ort"] = json.loads(p.stdout) if p.returncode == 0 else {"error": p.stderr.strip()[-300:]}
    return out


# ------------------------------------------------------------------ report

def geomean(v):
    return math.exp(sum(map(math.log, v)) / len(v))


def fmt_ms(v):
    return f"{v:.3f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def gops(ops, ms):
    return ops / (ms * 1e-3) * 1e-9


def markdown(res):
    peak_name = res.get("peak_isa")
    lines = []
    lines.append("| case | op | shape | threads | qlinear ms | ORT ms | ORT / qlinear | ORT / qlinear (CPU time) |"
                 f" qlinear GOPS | ORT GOPS | peak GOPS in case{f' ({peak_name})' if peak_name else ''} |"
                 " qlinear % of peak (CPU time) | rounds (dropped) |")
    lines.append("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in res["cases"]:
        if "error" in r:
            lines.append(f"| {r['case']} | {r.get('op', '')} | {r.get('shape', '')} | {r['threads']} |"
                         f" error: {r['error'][:80]} | | | | | | | | |")
            continue
        qm, om = r["qlinear"]["median_ms"], r["ort"]["median_ms"]
        peak = r.get("probe_gops") or res.get("peak_gops_1t")
        if r["ops"]:
            qg, og = gops(r["ops"], qm), gops(r["ops"], om)
            g = f"{qg:.1f} | {og:.1f} | "
            g += f"{peak:.0f} | {100 * gops(r['ops'], r['qlinear']['cpu_median_ms']) / peak:.2f}%" if peak else "- | -"
        else:
            g = "- | - | - | -"
        lines.append(f"| {r['case']} | {r['op']} | {r['shape']} | {r['threads']} | {fmt_ms(qm)} | {fmt_ms(om)} |"
                     f" {r['ratio']:.3f} | {r['cpu_ratio']:.3f} | {g} | {r['rounds']} ({r['rounds_degraded']}) |")
    for t, gm in sorted(res["geomean"].items()):
        lines.append(f"| **geometric mean** | | | {t} | | | **{gm['ratio']:.3f}** | **{gm['cpu_ratio']:.3f}** |"
                     f" {gm['n']} cases | | | | |")
    lines.append("")
    if res.get("overhead"):
        lines.append("Per-call overhead (one-element Identity model, median of 2000 calls; included in the times above):")
        lines.append("")
        lines.append("| threads | qlinear (ctypes) µs | ORT (Python, IO binding) µs |")
        lines.append("|--:|--:|--:|")
        for o in res["overhead"]:
            lines.append(f"| {o['threads']} | {o['qlinear_us']:.1f} | {o['ort_us']:.1f} |")
        lines.append("")
    if res.get("footprint"):
        lines.append("Real models, 1 thread, fresh process each: session creation and peak RSS (ru_maxrss). ORT's RSS "
                     "includes the Python interpreter with numpy and onnxruntime imported (shown as base); qlinear's is "
                     "the whole `qlinear bench` process.")
        lines.append("")
        lines.append("| model | qlinear create ms | ORT create ms | qlinear peak RSS MiB | ORT peak RSS MiB (base) |")
        lines.append("|---|--:|--:|--:|--:|")
        for f in res["footprint"]:
            q, o = f["qlinear"], f["ort"]
            qc = f"{q['create_ms']:.1f}" if "create_ms" in q else "error"
            oc = f"{o['create_ms']:.1f}" if "create_ms" in o else "error"
            qr = f"{q['peak_rss_kb'] / 1024:.1f}" if "peak_rss_kb" in q else "-"
            orr = f"{o['peak_rss_kb'] / 1024:.1f} ({o['base_rss_kb'] / 1024:.1f})" if "peak_rss_kb" in o else "-"
            lines.append(f"| {f['case']} | {qc} | {oc} | {qr} | {orr} |")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", help="qlinear build directory (libqlinear.so, qlinear)")
    ap.add_argument("--models", help="directory written by bench/gen_models.py")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--target-ms", type=float, default=100.0, help="time per block of calls (at least one call)")
    ap.add_argument("--max-calls", type=int, default=200)
    ap.add_argument("--only", help="regular expression on case names")
    ap.add_argument("--isa", help="passed as ql_session_options.isa")
    ap.add_argument("--probe", help="JSON written by bench-probe --json (machine peak)")
    ap.add_argument("--probe-lib", help="bench-probe.so: read the peak again in every round of a case")
    ap.add_argument("--probe-samples", type=int, default=3, help="probe runs of ~10 ms per round (best kept)")
    ap.add_argument("--no-health", action="store_true",
                    help="keep rounds run while the core's AMX tile loads were degraded")
    ap.add_argument("--degraded-below", type=float, default=0.6,
                    help="a round is degraded when the tile-load probe reads below this share of the peak")
    ap.add_argument("--extra-rounds", type=int, default=None, help="rounds to replace degraded ones (default --rounds)")
    ap.add_argument("--markdown", help="also write the Markdown tables to this file")
    ap.add_argument("--json", nargs="?", const="-", help="write all results as JSON (to stdout with no file)")
    ap.add_argument("--no-footprint", action="store_true", help="skip creation time / peak RSS of the real models")
    ap.add_argument("--ort-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_child:
        ort_child(args.ort_child, int(args.threads.split(",")[0]), 2)
        return 0
    if not args.build or not args.models:
        ap.error("--build and --models are required")

    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json == "-" else (lambda s: print(s, flush=True))
    lib = load_lib(os.path.join(args.build, "libqlinear.so"))
    cli = os.path.join(args.build, "qlinear")
    with open(os.path.join(args.models, "manifest.json")) as f:
        manifest = json.load(f)
    cases = [c for c in manifest["cases"] if not args.only or re.search(args.only, c["name"])]
    threads = [int(t) for t in args.threads.split(",")]

    res = {"onnxruntime": ort.__version__, "threads": threads, "rounds": args.rounds, "target_ms": args.target_ms,
           "cases": [], "geomean": {}}
    if args.probe and os.path.exists(args.probe):
        with open(args.probe) as f:
            probe = json.load(f)
        res["probe"] = probe
        for isa in ("amx_int8", "avx512vnni", "avxvnni"):
            if probe.get(isa + "_gops"):
                res["peak_gops_1t"], res["peak_isa"] = probe[isa + "_gops"], isa
                break

    args.probe_fn = args.health_fn = None
    if args.probe_lib and res.get("peak_isa"):
        plib = ctypes.CDLL(args.probe_lib)
        plib.ql_bench_probe_gops.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_double]
        plib.ql_bench_probe_gops.restype = ctypes.c_double
        isa = res["peak_isa"].encode()
        args.probe_fn = lambda: plib.ql_bench_probe_gops(isa, args.probe_samples, 0.01)
        if isa == b"amx_int8" and not args.no_health:
            args.health_fn = lambda: plib.ql_bench_probe_gops(b"amx_int8_l1", 2, 0.005)
    if args.extra_rounds is None:
        args.extra_rounds = args.rounds
    if args.health_fn:
        res["health"] = {"degraded_below": args.degraded_below, "extra_rounds": args.extra_rounds}
    res["loadavg_start"] = os.getloadavg()
    log(f"onnxruntime {ort.__version__}; {len(cases)} cases; threads {threads}; rounds {args.rounds}; "
        f"load average {res['loadavg_start'][0]:.1f}")
    res["overhead"] = [overhead(lib, ort, manifest["identity"], t) for t in threads]
    for o in res["overhead"]:
        log(f"  per-call overhead t={o['threads']}: qlinear {o['qlinear_us']:.1f} us, ORT {o['ort_us']:.1f} us")
    # every pair is set up first and stays open; each round then sweeps all
    # of them, so that an episode of host load (seconds) lands in one round
    # of a few cases, not in every sample of one case
    pairs, failed = [], {}
    for c in cases:
        for t in threads:
            try:
                pairs.append(Pair(lib, ort, c, t, args))
            except Exception as e:  # one failing case must not hide the others
                log(f"  {c['name']} t={t}: error: {e}")
                failed[(c["name"], t)] = str(e)
    try:
        gc.disable()
        for k in range(args.rounds):
            for p in pairs:
                p.round()
            log(f"  round {k + 1}/{args.rounds} done")
        # a round run on a core whose tile loads were degraded (see --health)
        # is dropped for both runtimes and run again, up to --extra-rounds times
        for k in range(args.extra_rounds if args.health_fn else 0):
            todo = [p for p in pairs if p.clean_rounds() < args.rounds]
            if not todo:
                break
            for p in todo:
                p.round()
            log(f"  extra round {k + 1}: {len(todo)} cases had degraded rounds")
    finally:
        gc.enable()
    done = {(p.case["name"], p.threads): p for p in pairs}
    for c in cases:
        for t in threads:
            p = done.get((c["name"], t))
            if p:
                r = p.result()
                p.close()
                log(f"  {c['name']:32} t={t}  qlinear {r['qlinear']['median_ms']:10.3f} ms (n={r['qlinear']['n']})  "
                    f"ORT {r['ort']['median_ms']:9.3f} ms (n={r['ort']['n']})  ORT/qlinear {r['ratio']:.3f}")
            else:
                r = {"case": c["name"], "op": c["op"], "shape": c["shape"], "threads": t, "error": failed[(c["name"], t)]}
            res["cases"].append(r)
    for t in threads:
        rs = [r["ratio"] for r in res["cases"] if r["threads"] == t and "ratio" in r]
        if rs:
            cs = [r["cpu_ratio"] for r in res["cases"] if r["threads"] == t and "ratio" in r]
            res["geomean"][str(t)] = {"ratio": geomean(rs), "cpu_ratio": geomean(cs), "n": len(rs)}
    res["loadavg_end"] = os.getloadavg()
    if not args.no_footprint:
        res["footprint"] = [footprint(c, args, cli) for c in cases if c["real"]]

    md = markdown(res)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n")
    if args.json:
        if args.json == "-":
            print(json.dumps(res, indent=1))
        else:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
    if args.json != "-":
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
