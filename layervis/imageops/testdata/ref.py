"""Independent references for the imageops tests.

Usage: python3 ref.py OP IN.json OUT.json

IN.json holds the operation's arguments; OUT.json receives the results. The
operations call the libraries the Mind's Eye reference code uses (OpenCV,
scikit-image, SciPy, NumPy) and nothing from layervis.
"""
import json
import math
import sys

import numpy as np


def image(a):
    return np.asarray(a["pix"], dtype=np.float64).reshape(a["h"], a["w"], a["c"])


def op_kernel(a):
    import cv2
    return {"kernels": [cv2.getGaussianKernel(k, s, ktype=cv2.CV_32F).ravel().astype(np.float64).tolist()
                        for k, s in zip(a["ksize"], a["sigma"])]}


def op_blur(a):
    import cv2
    out = []
    for case in a["cases"]:
        img = image(case).astype(np.float32)
        k = case["ksize"]
        b = cv2.GaussianBlur(img, (k, k), sigmaX=case["sigma"], sigmaY=case["sigma"],
                             borderType=cv2.BORDER_REFLECT_101)
        out.append(b.reshape(-1).astype(np.float64).tolist())
    return {"pix": out}


def op_blur_digests(a):
    # cv2.GaussianBlur as imgaug 0.4's GaussianBlur calls it on a float32
    # image: ksize 5 for every sigma below 1.5, sigmaX = sigmaY = the float32
    # sigma, BORDER_REFLECT_101. One SHA-256 digest of the float32 output per
    # image and sigma.
    import hashlib
    import cv2
    k = a["ksize"]
    out = []
    for case in a["images"]:
        img = np.load(case["path"]).astype(np.float32)
        row = []
        for s in a["sigmas"]:
            s = np.float32(s)
            b = cv2.GaussianBlur(img, (k, k), sigmaX=float(s), sigmaY=float(s),
                                 borderType=cv2.BORDER_REFLECT_101)
            row.append(hashlib.sha256(np.ascontiguousarray(b, dtype="<f4").tobytes()).hexdigest())
        out.append(row)
    return {"digests": out}


def op_bregman(a):
    import skimage
    from skimage.restoration import denoise_tv_bregman
    out = []
    for case in a["cases"]:
        img = image(case).astype(np.uint8)  # the reference denoises uint8 images
        # No channel_axis: all channels in one loop with one stopping
        # criterion, as skimage 0.17 (the reference's version) always did.
        d = denoise_tv_bregman(img, case["weight"], case["max_iter"], case["eps"])
        out.append(d.reshape(-1).tolist())
    return {"pix": out, "skimage": skimage.__version__}


def op_zoom(a):
    import scipy
    from scipy import ndimage
    out = []
    for case in a["cases"]:
        img = image(case)
        z = case["zoom"]
        # Per channel, as ZoomCubic computes it.
        per_channel = np.stack([ndimage.zoom(img[:, :, ch], z, order=3, mode="constant", cval=0.0,
                                             prefilter=True, grid_mode=False, output=np.float64)
                                for ch in range(img.shape[2])], axis=-1)
        r = {"h": per_channel.shape[0], "w": per_channel.shape[1], "pix": per_channel.reshape(-1).tolist()}
        if case.get("whole"):
            # As the Mind's Eye reference calls it: a uint8 batch [K,C,H,W]
            # zoomed by (1, 1, z, z), with uint8 output.
            batch = np.stack([img.transpose(2, 0, 1).astype(np.uint8)] * 2)
            u8 = ndimage.zoom(batch, (1, 1, z, z))[1].transpose(1, 2, 0)
            r["whole_u8"] = u8.reshape(-1).astype(int).tolist()
        out.append(r)
    return {"cases": out, "scipy": scipy.__version__}


def op_mask(a):
    # The reference's formula (vis.py, as the method note §4.3 step 3 gives
    # it): each value computed in Python floats and stored into a float32
    # array, then normalized in float32. The first case also runs vis.py's
    # per-pixel Python loop, to check the vectorized form against it.
    out = []
    for n, case in enumerate(a["cases"]):
        h, w, msig = case["h"], case["w"], case["msig"]
        eps = sys.float_info.epsilon
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.sqrt((np.abs(yy - h // 2) ** 2 + np.abs(xx - w // 2) ** 2).astype(np.float64))
        m = (1 / (msig * math.sqrt(2 * math.pi)) * np.power(eps, .5 * ((r - 1) / msig) ** 2)).astype(np.float32)
        if n == 0:
            loop = np.ones((h, w), dtype=np.float32)
            for y in range(h):
                for x in range(w):
                    val = math.sqrt((abs(y - h // 2) ** 2) + (abs(x - w // 2) ** 2))
                    loop[y, x] = 1 / (msig * math.sqrt(2 * math.pi)) * eps ** (.5 * ((val - 1) / msig) ** 2)
            assert np.array_equal(loop, m), "vectorized mask differs from vis.py's loop"
        m = (m - m.min()) / (m.max() - m.min())
        out.append(m.astype(np.float64).reshape(-1).tolist())
    return {"masks": out}


def op_img_as_float(a):
    from skimage import img_as_float
    return {"f": img_as_float(np.arange(256, dtype=np.uint8)).tolist()}


def op_quant(a):
    v = np.asarray(a["v"], dtype=np.float64)
    return {"trunc": v.astype(np.uint8).astype(int).tolist(), "round": np.round(v).tolist()}


def main():
    op, src, dst = sys.argv[1:4]
    with open(src) as f:
        a = json.load(f)
    out = globals()["op_" + op](a)
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
