#!/usr/bin/env python3
"""Regression fixtures for the real models in ../shared/models.

For every model this writes tests/data/models/<model>/ in the layout of
`qlinear test` (minus model.onnx, which tests/scripts/test-models.sh links
from the shared folder at run time):

    test_data_set_<k>/input_0.pb.gz     deterministic input (seeded)
    test_data_set_<k>/output_<j>.pb.gz  ONNX Runtime's output j (CPU EP,
                                        graph optimizations disabled)
    tolerance.txt                       per-output float tolerance

Files are gzip-compressed (mtime 0, so reruns are byte-identical) to keep the
repository small; outputs too big for the budget are left out (`qlinear test`
skips outputs without a file) and the README table says which were kept.

Inputs: MNIST uses real digits from ../shared/data/mnist; image models get
synthetic pictures (smooth colour fields, flat and textured shapes; stroke
"text" lines for the PaddleOCR models), rounded to 8-bit pixels and then
preprocessed the way each model expects.

Tolerances (the project's real-model rule):
  * float models: |got - ref| <= 1e-4 * |ref| + 1e-4 * max(max|ref|, 0.01)
    (max|ref| over that output; the floor is for all-near-zero outputs)
  * quantized models: one quantization step of the output, i.e. the scale of
    the DequantizeLinear that produces it (for float ops after the last DQ,
    e.g. Softmax, the largest scale among the DQs feeding them).

Also reports how far ORT_ENABLE_ALL (fused int8 kernels, float fusions) is
from the reference run, in the README table, for information only.

Usage: python3 tests/models/gen_fixtures.py [--shared DIR] [--out DIR]
"""
import argparse
import gzip
import io
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# name -> how to feed it. `shapes`: one NCHW input shape per data set.
# `outputs`: indices of the outputs to store (None = all).
IMAGENET = dict(mean=(0.485 * 255, 0.456 * 255, 0.406 * 255), std=(0.229 * 255, 0.224 * 255, 0.225 * 255))
MODELS = {
    "mnist-float": dict(kind="mnist", sets=2),
    "ppocr-mobile-cls-float": dict(shapes=[(1, 3, 48, 192), (1, 3, 48, 192)], order="RGB", scene="text",
                                   mean=(127.5,) * 3, std=(127.5,) * 3),
    # dynamic H x W: two different sizes (multiples of 32)
    "ppocr-v4-det-float": dict(shapes=[(1, 3, 96, 128), (1, 3, 64, 64)], order="RGB", scene="text", **IMAGENET),
    "ultraface-rfb320-float": dict(shapes=[(1, 3, 240, 320)] * 2, order="RGB", mean=(127.0,) * 3, std=(128.0,) * 3),
    "retinaface-qdq": dict(shapes=[(1, 3, 320, 320)] * 2, order="BGR", mean=(104.0, 117.0, 123.0), std=(1.0,) * 3),
    # the stride-8 box/keypoint heads are large; their cls/obj heads cover that branch
    "yunet-float": dict(shapes=[(1, 3, 640, 640)], order="BGR", mean=(0.0,) * 3, std=(1.0,) * 3,
                        outputs=[0, 1, 2, 3, 4, 5, 7, 8, 10, 11]),
    # the stride-32 heads come after NanoDet's whole PAN (both Resizes and the
    # bottom-up path); the stride-8/16 heads would be 1.5 MB per model
    "nanodet-plus-float": dict(shapes=[(1, 3, 416, 416)], order="BGR", mean=(103.53, 116.28, 123.675),
                               std=(57.375, 57.12, 58.395), outputs=[2, 4, 5]),
    "nanodet-plus-int8": dict(shapes=[(1, 3, 416, 416)], order="BGR", mean=(103.53, 116.28, 123.675),
                              std=(57.375, 57.12, 58.395), outputs=[2, 4, 5]),
}


def synth_image(h, w, seed):
    """An 8-bit HxWx3 picture: a smooth low-saturation colour field with flat
    and textured rectangles and ellipses on it."""
    rng = np.random.default_rng(seed)
    gh, gw = h // 48 + 2, w // 48 + 2
    grid = rng.uniform(40, 215, (gh, gw, 1)) + rng.uniform(-45, 45, (gh, gw, 3))
    ys, xs = np.linspace(0, gh - 1.001, h), np.linspace(0, gw - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = (grid[y0][:, x0] * (1 - fy) * (1 - fx) + grid[y0 + 1][:, x0] * fy * (1 - fx)
           + grid[y0][:, x0 + 1] * (1 - fy) * fx + grid[y0 + 1][:, x0 + 1] * fy * fx)
    yy, xx = np.mgrid[0:h, 0:w]
    for k in range(7):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(h / 20, h / 5), rng.uniform(w / 20, w / 5)
        col = rng.uniform(0, 255, 3)
        if k % 2:
            m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        else:
            m = (abs(yy - cy) < ry) & (abs(xx - cx) < rx)
        # texture in 2x2 cells: keeps gzip effective without looking flat
        tex = rng.normal(0, 6, (h // 2 + 1, w // 2 + 1, 1)).repeat(2, 0).repeat(2, 1)[:h, :w] if k < 3 else 0
        img = np.where(m[..., None], img * 0.25 + col * 0.75 + tex, img)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def synth_text(h, w, seed):
    """An 8-bit HxWx3 "text page": lines of dark stroke glyphs on a light
    background, so that the PaddleOCR models see something like text."""
    rng = np.random.default_rng(seed)
    bg = rng.uniform(190, 240)
    img = np.full((h, w, 3), bg) + np.linspace(-12, 12, w)[None, :, None] + rng.uniform(-8, 8, 3)
    y = int(rng.integers(2, 8))
    while y < h - 12:
        lh = int(rng.integers(max(10, h // 10), max(12, h // 5)))
        if y + lh >= h: break
        x = int(rng.integers(2, 12)); ink = rng.uniform(0, 70, 3)
        xend = int(rng.integers(w // 2, w - 2))
        while x < xend - lh:
            cw = int(lh * rng.uniform(0.5, 0.9)); t = max(1, lh // 8)
            for _ in range(int(rng.integers(2, 5))):
                if rng.random() < 0.5:
                    x0 = x + int(rng.integers(0, max(1, cw - t))); img[y:y + lh, x0:x0 + t] = ink
                else:
                    y0 = y + int(rng.integers(0, max(1, lh - t))); img[y0:y0 + t, x:x + cw] = ink
            x += cw + int(rng.integers(1, max(2, lh // 4)))
            if rng.random() < 0.15: x += lh
        y += lh + int(rng.integers(4, max(5, lh)))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def image_input(spec, shape, seed):
    n, c, h, w = shape
    img = (synth_text if spec.get("scene") == "text" else synth_image)(h, w, seed)  # RGB
    if spec["order"] == "BGR":
        img = img[..., ::-1]
    x = img.astype(np.float32)
    x = (x - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32))


def mnist_inputs(shared, count, seed):
    d = os.path.join(shared, "data", "mnist")
    imgs = np.fromfile(os.path.join(d, "images-u8-28x28.bin"), np.uint8).reshape(-1, 28, 28)
    labels = np.fromfile(os.path.join(d, "labels-u8.bin"), np.uint8)
    idx = np.random.default_rng(seed).choice(len(imgs), count, replace=False)
    # raw 0..255 pixel values as floats (the README's scoring setup)
    return [imgs[i].astype(np.float32)[None, None] for i in idx], [int(labels[i]) for i in idx]


def session(path, level):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def const_value(m, name):
    for t in m.graph.initializer:
        if t.name == name:
            return nh.to_array(t)
    for n in m.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            for a in n.attribute:
                if a.name == "value":
                    return nh.to_array(a.t)
    return None


def output_steps(m):
    """Quantization step of each graph output (None for float models): the
    largest scale of the DequantizeLinear nodes reached walking back through
    float ops."""
    producer = {o: n for n in m.graph.node for o in n.output}
    if not any(n.op_type == "DequantizeLinear" for n in m.graph.node):
        return [None] * len(m.graph.output)
    steps = []
    for out in m.graph.output:
        seen, stack, scales = set(), [out.name], []
        while stack:
            v = stack.pop()
            if v in seen or v not in producer:
                continue
            seen.add(v)
            n = producer[v]
            if n.op_type == "DequantizeLinear":
                s = const_value(m, n.input[1])
                if s is not None:
                    scales.append(float(np.max(s)))
                continue
            if n.op_type in ("Shape", "Constant"):
                continue
            stack.extend(i for i in n.input if i)
        steps.append(max(scales) if scales else None)
    return steps


def write_pb_gz(path, arr, name):
    t = nh.from_array(arr, name)
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
        g.write(t.SerializeToString())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("QL_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared")))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "models"))
    args = ap.parse_args()
    models_dir = os.path.join(args.shared, "models")
    rows = []
    for fn in sorted(os.listdir(models_dir)):
        if not fn.endswith(".onnx"):
            continue
        name = fn[:-5]
        spec = MODELS.get(name)
        if spec is None:
            print(f"{name}: no input recipe, skipped", file=sys.stderr)
            continue
        path = os.path.join(models_dir, fn)
        m = onnx.load(path)
        ref = session(path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        opt = session(path, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        in_name = ref.get_inputs()[0].name
        out_names = [o.name for o in ref.get_outputs()]
        seed = sum(name.encode()) * 7919
        if spec.get("kind") == "mnist":
            inputs, labels = mnist_inputs(args.shared, spec["sets"], seed)
            note = "digits " + ", ".join(map(str, labels))
        else:
            # NanoDet float and int8 share their input (same seed): git stores it once
            seed = sum(name.replace("-int8", "-float").encode()) * 7919
            inputs = [image_input(spec, s, seed + k) for k, s in enumerate(spec["shapes"])]
            note = ("synthetic text " if spec.get("scene") == "text" else "synthetic ") + ", ".join(
                "x".join(map(str, s[2:])) for s in spec["shapes"])
        keep = spec.get("outputs") or list(range(len(out_names)))
        steps = output_steps(m)
        mdir = os.path.join(args.out, name)
        os.makedirs(mdir, exist_ok=True)
        maxabs = [0.0] * len(out_names)
        pairs = []  # (j, reference output, ORT_ENABLE_ALL output)
        for k, x in enumerate(inputs):
            ys = ref.run(None, {in_name: x})
            yo = opt.run(None, {in_name: x})
            sdir = os.path.join(mdir, f"test_data_set_{k}")
            os.makedirs(sdir, exist_ok=True)
            write_pb_gz(os.path.join(sdir, "input_0.pb.gz"), x, in_name)
            for j, y in enumerate(ys):
                maxabs[j] = max(maxabs[j], float(np.max(np.abs(y))) if y.size else 0.0)
                if j in keep:
                    write_pb_gz(os.path.join(sdir, f"output_{j}.pb.gz"), y, out_names[j])
                    pairs.append((j, y, yo[j]))
        tol = {}
        for j in keep:
            if steps[j] is not None:
                # one quantization step (plus float rounding of the step itself)
                tol[j] = (steps[j] * 1.0001, 0.0)
            else:
                # 1e-4 relative, against the output's magnitude; the 0.01 floor
                # covers outputs that are all near zero (e.g. sigmoid scores of
                # absent faces), where float32 itself is only good to ~1e-7
                tol[j] = (max(maxabs[j], 1e-2) * 1e-4, 1e-4)
        with open(os.path.join(mdir, "tolerance.txt"), "w") as f:
            f.write(f"# {name}: per-output float tolerance, |got - ref| <= atol + rtol*|ref|\n")
            f.write("# written by tests/models/gen_fixtures.py\n")
            for j in keep:
                f.write(f"{j} {tol[j][0]:.9g} {tol[j][1]:g}\n")
        # how far ONNX Runtime's own optimized run is, in units of the tolerance
        worst = 0.0
        for j, y, yo in pairs:
            d = np.abs(y.astype(np.float64) - yo) / (tol[j][0] + tol[j][1] * np.abs(y.astype(np.float64)))
            worst = max(worst, float(d.max()) if d.size else 0.0)
        q = steps[keep[0]] is not None
        rows.append((name, len(inputs), note, f"{len(keep)}/{len(out_names)}",
                     "1 step" if q else "1e-4 rel", f"{worst:.3g}"))
        print(f"{name}: {len(inputs)} set(s), outputs {keep}, ORT_ENABLE_ALL vs reference: {worst:.3g} x tolerance")
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("# Real-model regression fixtures\n\n")
        f.write("Generated by `tests/models/gen_fixtures.py` (ONNX Runtime %s, CPU EP, graph optimizations\n"
                "disabled); run by `tests/scripts/test-models.sh`, which links each model from\n"
                "`$QL_SHARED_DIR/models`. Do not edit by hand: rerun the generator.\n\n" % ort.__version__)
        f.write("| model | data sets | inputs | outputs kept | tolerance | ORT_ENABLE_ALL vs reference (max, in tolerances) |\n")
        f.write("|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| " + " | ".join(map(str, r)) + " |\n")
        f.write("\n`pending.txt` lists models whose operators qlinear does not implement yet: the script\n"
                "accepts SKIP for them (never FAIL).\n")


if __name__ == "__main__":
    main()
