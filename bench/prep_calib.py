#!/usr/bin/env python3
"""Turns real pictures into the calibration/evaluation sample sets that
`qlinear quantize --calib DIR --eval DIR` reads (DIR/<k>/input_0.pb, float32
TensorProtos), one pair of sets per model, preprocessed the way each model
expects.

Sources (Debian packages, nothing fetched at run time):
  * MNIST: ../shared/data/mnist (10,000 labelled digits). calib = every 50th
    digit (the same 200 as data/mnist-calib), eval = every 50th from 25.
  * photos: opencv-doc (/usr/share/doc/opencv-doc/examples/data), darknet
    (/usr/share/darknet/data) and python3-skimage (its data folder). The
    sorted list of pictures is split in two: even positions calibrate, odd
    positions evaluate, so the two sets never share a picture. Each picture
    gives a few samples: the whole picture resized, and seeded random crops
    (and a mirror). The face detectors also get pictures with faces (each
    three times, as differently cropped samples): skimage's astronaut and
    opencv's messi5 calibrate, skimage's camera and darknet's person
    evaluate.

Per-model preprocessing (from each model's upstream demo code):
  yunet-float             BGR, 0..255, 640x640 (OpenCV FaceDetectorYN feeds raw pixels)
  ultraface-rfb320-float  RGB, (x - 127) / 128, 320x240
  nanodet-plus-float      BGR, (x - [103.53, 116.28, 123.675]) / [57.375, 57.12, 58.395], 416x416
  ppocr-mobile-cls-float  RGB, (x / 255 - 0.5) / 0.5, height 48, width <= 192 keeping the aspect
                          ratio, zero-padded on the right (PaddleOCR's cls resize_norm_img). Its input
                          is a text line: lines are cut from opencv-doc's text pictures (imageTextN,
                          imageTextR, text_defocus, text_motion) by their row profile, alternate lines
                          calibrate and evaluate, pieces of 3 to 10 times the line height wide, half of
                          them turned by 180 degrees (what the classifier detects)
  mnist-float             raw 0..255 pixels, [1, 1, 28, 28]

Needs numpy, onnx and Pillow (pip install pillow).

Usage: python3 bench/prep_calib.py OUT_DIR [--models a,b] [--calib N] [--eval N]
Writes OUT_DIR/<model>/calib/<k>/input_0.pb and OUT_DIR/<model>/eval/<k>/input_0.pb.
"""
import argparse
import glob
import os
import sys

import numpy as np
from onnx import numpy_helper

try:
    from PIL import Image
except ImportError:
    sys.exit("prep_calib.py needs Pillow: pip install pillow")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("QL_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
OPENCV = "/usr/share/doc/opencv-doc/examples/data"
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
DARKNET = "/usr/share/darknet/data"
TEXT_PICTURES = [OPENCV + "/imageTextN.png", OPENCV + "/imageTextR.png", OPENCV + "/text_defocus.jpg",
                 OPENCV + "/text_motion.jpg", SKIMAGE + "/page.png", SKIMAGE + "/text.png"]
# the face detectors need faces in both sets: two pictures calibrate, two others evaluate
FACES_CALIB = [SKIMAGE + "/astronaut.png", OPENCV + "/messi5.jpg"]
FACES_EVAL = [SKIMAGE + "/camera.png", DARKNET + "/person.jpg"]
PHOTO_DIRS = [OPENCV, DARKNET]

MODELS = {
    "yunet-float": dict(size=(640, 640), order="BGR", mean=(0.0,) * 3, std=(1.0,) * 3, name="input", faces=True),
    "ultraface-rfb320-float": dict(size=(320, 240), order="RGB", mean=(127.0,) * 3, std=(128.0,) * 3, name="input",
                                   faces=True),
    "nanodet-plus-float": dict(size=(416, 416), order="BGR", mean=(103.53, 116.28, 123.675),
                               std=(57.375, 57.12, 58.395), name="input.1"),
    "ppocr-mobile-cls-float": dict(size=(192, 48), order="RGB", mean=(127.5,) * 3, std=(127.5,) * 3, name="x",
                                   textline=True),
    "mnist-float": dict(mnist=True, name="Input3"),
}


def photos():
    files = []
    for d in PHOTO_DIRS:
        for ext in ("jpg", "jpeg", "png"):
            files += glob.glob(os.path.join(d, "*." + ext))
    out = []
    for f in sorted(set(files)):
        try:
            with Image.open(f) as im:
                w, h = im.size
        except OSError:
            continue
        if min(w, h) >= 96:  # logos and tiny templates say little about real inputs
            out.append(f)
    return out


def load_rgb(path):
    with Image.open(path) as im:
        return im.convert("RGB")


def crops(im, rng, aspect, count):
    """The whole picture, then `count - 1` seeded crops with the given w/h aspect."""
    yield im
    w, h = im.size
    for k in range(count - 1):
        cw = int(w * rng.uniform(0.35, 0.9))
        ch = int(cw / aspect)
        if ch > h:
            ch = int(h * rng.uniform(0.35, 0.9))
            cw = min(w, int(ch * aspect))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        c = im.crop((x0, y0, x0 + cw, y0 + ch))
        if k % 2:
            c = c.transpose(Image.FLIP_LEFT_RIGHT)
        yield c


def to_tensor(img, spec):
    x = np.asarray(img, dtype=np.float32)  # HxWx3 RGB
    if spec["order"] == "BGR":
        x = x[..., ::-1]
    x = (x - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32))


def image_sample(img, spec):
    W, H = spec["size"]
    if not spec.get("textline"):
        return to_tensor(img.resize((W, H), Image.BILINEAR), spec)
    # PaddleOCR ClsPreProcess / resize_norm_img: height H, width by aspect (<= W), pad right with 0
    w, h = img.size
    rw = min(W, max(1, int(np.ceil(H * w / h))))
    x = to_tensor(img.resize((rw, H), Image.BILINEAR), spec)
    out = np.zeros((1, 3, H, W), np.float32)
    out[..., :rw] = x
    return out


def write(path, arr, name):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def make_image_sets(model, spec, out, n_calib, n_eval, files):
    rng = np.random.default_rng(1234)
    aspect = spec["size"][0] / spec["size"][1]
    faces = {"calib": [], "eval": []}
    if spec.get("faces"):
        faces = {"calib": [f for f in FACES_CALIB if os.path.exists(f)], "eval": [f for f in FACES_EVAL if os.path.exists(f)]}
    for part, sel, n in (("calib", files[0::2], n_calib), ("eval", files[1::2], n_eval)):
        # face pictures first (each gives several crops), then the other photos
        sel = faces[part] + [f for f in sel if f not in FACES_CALIB + FACES_EVAL]
        per = max(1, -(-(n - 2 * len(faces[part])) // max(1, len(sel))))  # samples per picture
        k = 0
        for f in sel:
            if k >= n:
                break
            im = load_rgb(f)
            cnt = per + 2 if f in faces[part] else per
            for j, c in enumerate(crops(im, rng, 4.0 if spec.get("textline") else aspect, cnt)):
                if k >= n:
                    break
                if spec.get("textline") and j % 2:
                    c = c.rotate(180)
                write(os.path.join(out, model, part, "%04d" % k), image_sample(c, spec), spec["name"])
                k += 1
        print(f"{model}: {k} {part} samples from {len(sel)} pictures")


def text_lines(path):
    """(image, [(top, bottom)]) rows of dark ink separated by light gaps."""
    im = load_rgb(path)
    g0 = im.convert("L")
    # straighten: the angle whose row profile of ink is the most peaked
    best = (-1.0, 0.0)
    for ang in np.arange(-20, 20.5, 0.5):
        g = np.asarray(g0.rotate(ang, resample=Image.BILINEAR, fillcolor=255), np.float32)
        v = float((g < g.mean() - 0.5 * g.std()).mean(axis=1).var())
        best = max(best, (v, float(ang)))
    im = im.rotate(best[1], resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    g = np.asarray(im.convert("L"), np.float32)
    ink = (g < g.mean() - 0.5 * g.std()).mean(axis=1)
    on = ink > 0.02
    lines, y = [], 0
    while y < len(on):
        if on[y]:
            y0 = y
            while y < len(on) and on[y]:
                y += 1
            if 8 <= y - y0 <= 60:
                m = max(2, (y - y0) // 4)
                lines.append((max(0, y0 - m), min(len(on), y + m)))
        y += 1
    return im, lines


def make_text_sets(model, spec, out, n_calib, n_eval):
    rng = np.random.default_rng(1234)
    pieces = {"calib": [], "eval": []}
    for path in TEXT_PICTURES:
        if not os.path.exists(path):
            continue
        im, lines = text_lines(path)
        for j, (y0, y1) in enumerate(lines):
            pieces["calib" if j % 2 == 0 else "eval"].append((im, y0, y1))
    for part, n in (("calib", n_calib), ("eval", n_eval)):
        src = pieces[part]
        if not src:
            sys.exit("no text lines found: apt-get install opencv-doc")
        for k in range(n):
            im, y0, y1 = src[k % len(src)]
            h = y1 - y0
            w = min(im.size[0], int(h * rng.uniform(3, 10)))
            x0 = int(rng.integers(0, im.size[0] - w + 1))
            c = im.crop((x0, y0, x0 + w, y1))
            if k % 2:
                c = c.rotate(180)
            write(os.path.join(out, model, part, "%04d" % k), image_sample(c, spec), spec["name"])
        print(f"{model}: {n} {part} text-line samples from {len(src)} lines")


def make_mnist_sets(model, spec, out, n_calib, n_eval):
    d = os.path.join(SHARED, "data", "mnist")
    img = np.fromfile(os.path.join(d, "images-u8-28x28.bin"), np.uint8).reshape(-1, 1, 1, 28, 28)
    for part, start, n in (("calib", 0, n_calib), ("eval", 25, n_eval)):
        idx = list(range(start, len(img), 50))[:n]
        for k, i in enumerate(idx):
            write(os.path.join(out, model, part, "%04d" % k), img[i].astype(np.float32), spec["name"])
        print(f"{model}: {len(idx)} {part} samples")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--calib", type=int, default=32, help="calibration samples per image model")
    ap.add_argument("--eval", type=int, default=24, help="evaluation samples per image model")
    a = ap.parse_args()
    files = photos()
    if len(files) < 4:
        sys.exit("no pictures found: apt-get install opencv-doc")
    for m in a.models.split(","):
        spec = MODELS[m]
        if spec.get("mnist"):
            make_mnist_sets(m, spec, a.out, 200, 200)
        elif spec.get("textline"):
            # small inputs: more samples are cheap, and a 2-class softmax needs them for a stable SQNR
            make_text_sets(m, spec, a.out, max(a.calib, 100), max(a.eval, 200))
        else:
            make_image_sets(m, spec, a.out, a.calib, a.eval, files)


if __name__ == "__main__":
    main()
