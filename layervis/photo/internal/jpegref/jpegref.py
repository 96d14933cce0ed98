"""Reference JPEG decodes by libjpeg-turbo through PIL and OpenCV.

Usage:
  jpegref.py gen OUTDIR [NAME...]  encode the test JPEGs (cjpeg and PIL), or
                                   those named, into OUTDIR, and decode them
  jpegref.py ref OUTDIR JPEG...     decode the given JPEG files

Both write OUTDIR/manifest.json: a list of {name, file, w, h, mode, PIL,
PILRGB, CV2}, where file is the JPEG, mode PIL's mode (L, RGB or CMYK), and
PIL, PILRGB and CV2 name raw 8-bit files in OUTDIR: PIL's decode in its own
mode, PIL's .convert("RGB") and cv2.imdecode(IMREAD_COLOR |
IMREAD_IGNORE_ORIENTATION) as RGB, each row-major, channels interleaved.
"""
import io
import json
import os
import subprocess
import sys

import cv2
import numpy as np
from PIL import Image


def synthetic(w, h, seed):
    """Gradients, noise and saturated sharp-edged blocks: large coefficients,
    clamping and chroma edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255.0 / max(w - 1, 1), y * 255.0 / max(h - 1, 1),
                    (x + y) * 127.0 / max(w + h - 2, 1) + 64], -1)
    img += rng.normal(0, 25, img.shape)
    for _ in range(6):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        img[y0:y0 + rng.integers(1, 12), x0:x0 + rng.integers(1, 12)] = rng.choice([0, 255], 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def cjpeg(outdir, name, rgb, args):
    ppm = os.path.join(outdir, name + ".ppm")
    Image.fromarray(rgb).save(ppm)
    out = os.path.join(outdir, name + ".jpg")
    subprocess.run(["cjpeg", *args, "-outfile", out, ppm], check=True)
    os.remove(ppm)
    return out


def pil_save(outdir, name, img, **kw):
    out = os.path.join(outdir, name + ".jpg")
    img.save(out, "JPEG", **kw)
    return out


def patch(outdir, name, src, fn):
    data = fn(bytearray(open(src, "rb").read()))
    out = os.path.join(outdir, name + ".jpg")
    open(out, "wb").write(data)
    return out


def adobe_transform(t):
    """Sets the transform flag of the Adobe APP14 marker."""
    def fn(data):
        i = data.find(b"Adobe")
        if i < 4 or data[i - 4:i - 2] != b"\xff\xee":
            raise SystemExit("no Adobe marker")
        data[i + 11] = t
        return data
    return fn


def first_scans(k):
    """Keeps the tables and the first k scans of a progressive JPEG, then
    ends it (EOI): a complete file whose coefficients are not all refined."""
    def fn(data):
        i, scans = 2, 0
        while True:
            if data[i] != 0xFF:
                raise SystemExit("bad marker")
            marker = data[i + 1]
            if marker == 0xDA:
                if scans == k:
                    return data[:i] + b"\xff\xd9"
                scans += 1
            if marker == 0xD9:
                return data
            i += 2 + (data[i + 2] << 8 | data[i + 3])
            if marker == 0xDA:  # skip the entropy-coded data
                while not (data[i] == 0xFF and data[i + 1] not in (0,) and not 0xD0 <= data[i + 1] <= 0xD7):
                    i += 1
    return fn


def gen(outdir, only):
    """Writes the test JPEGs (those named in only, if any) to outdir."""
    big = synthetic(75, 53, 1)
    pil = Image.fromarray(big)
    makers = {}
    for name, args in [
        ("444", ["-sample", "1x1"]),
        ("422", ["-sample", "2x1"]),
        ("420", ["-sample", "2x2"]),
        ("440", ["-sample", "1x2"]),
        ("411", ["-sample", "4x1"]),
        ("32", ["-sample", "3x2"]),
        ("mixed", ["-sample", "2x2,1x2,1x1"]),
        ("420-q20", ["-sample", "2x2", "-quality", "20"]),
        ("420-q100", ["-sample", "2x2", "-quality", "100"]),
        ("420-progressive", ["-sample", "2x2", "-progressive"]),
        ("420-restart", ["-sample", "2x2", "-restart", "3B"]),
        ("422-progressive-restart", ["-sample", "2x1", "-progressive", "-restart", "1"]),
        ("gray", ["-grayscale"]),
        ("gray-progressive", ["-grayscale", "-progressive", "-restart", "2B"]),
        ("rgb", ["-rgb"]),
    ]:
        makers[name] = lambda name=name, args=args: cjpeg(outdir, name, big, args)
    for w, h in [(1, 1), (2, 2), (3, 3), (4, 5), (5, 4), (6, 17), (17, 9)]:
        for s, f in [("420", "2x2"), ("440", "1x2")]:
            name = f"tiny{w}x{h}-{s}"
            makers[name] = lambda name=name, w=w, h=h, f=f: cjpeg(outdir, name, synthetic(w, h, w * h), ["-sample", f])
    makers["pil-420-progressive"] = lambda: pil_save(outdir, "pil-420-progressive", pil, quality=75, progressive=True, optimize=True)
    makers["pil-422"] = lambda: pil_save(outdir, "pil-422", pil, quality=85, subsampling=1)
    makers["cmyk"] = lambda: pil_save(outdir, "cmyk", pil.convert("CMYK"), quality=90)
    makers["ycck"] = lambda: patch(outdir, "ycck", pil_save(outdir, "cmyk-for-ycck", pil.convert("CMYK"), quality=90),
                                   adobe_transform(2))
    # Sequential, one scan per component (non-interleaved, with restarts).
    def noninterleaved():
        script = os.path.join(outdir, "scans.txt")
        open(script, "w").write("0;\n1;\n2;\n")
        return cjpeg(outdir, "420-noninterleaved", big, ["-sample", "2x2", "-scans", script, "-restart", "2B"])
    makers["420-noninterleaved"] = noninterleaved
    # Progressive files cut after k scans: libjpeg smooths their blocks.
    for k in (1, 2, 4, 6, 9):
        name = f"progressive-{k}-scans"
        makers[name] = lambda name=name, k=k: patch(outdir, name, cjpeg(outdir, name + "-full", big, ["-progressive"]),
                                                    first_scans(k))
    unknown = set(only) - set(makers)
    if unknown:
        raise SystemExit(f"unknown test files {sorted(unknown)}")
    return [make() for name, make in makers.items() if not only or name in only]


def ref(outdir, files):
    out = []
    for i, path in enumerate(files):
        name = os.path.splitext(os.path.basename(path))[0]
        data = open(path, "rb").read()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode, w, h = im.mode, im.width, im.height
            native, rgb = im.tobytes(), im.convert("RGB").tobytes()
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        entry = {"name": name, "file": os.path.abspath(path), "w": w, "h": h, "mode": mode}
        for key, raw in [("PIL", native), ("PILRGB", rgb), ("CV2", bgr[..., ::-1].tobytes())]:
            entry[key] = f"{i:03d}.{key.lower()}"
            open(os.path.join(outdir, entry[key]), "wb").write(raw)
        out.append(entry)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(out, f)


def main():
    op, outdir = sys.argv[1], sys.argv[2]
    if op == "gen":
        ref(outdir, gen(outdir, sys.argv[3:]))
    elif op == "ref":
        ref(outdir, sys.argv[3:])
    else:
        raise SystemExit(f"unknown op {op}")


if __name__ == "__main__":
    main()
