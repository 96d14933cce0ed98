#!/usr/bin/env python3
"""Reference for the host side of Mind's Eye iterations (vis.py's blur,
brightness and denoise steps), for TestHostMatchesReference.

Written from the method note (shared/reference/minds-eye-method.md, section
4.3 steps 3, 4 and 13, and 4.6) and the reference code's lines for the masks,
the blur and the denoise blends, with the libraries the reference calls:
NumPy (float32 arithmetic, as vis.py's arrays are float32), OpenCV (imgaug
0.4's GaussianBlur with its cv2 backend) and scikit-image
(denoise_tv_bregman). Nothing here comes from layervis.

host IN.json OUT.json
    IN.json: {"dir": DIR, "iterations": [{"i": 10, "msig": 420.0,
              "sigma": 0.9, "weight": 2.0, "bright": true}, ...]}
    Reads DIR/blur_in.npy and DIR/denoise_in.npy, [N,K,H,W,3] float32 of
    8-bit values (N iterations, K images); for iteration n, runs the
    reference's blur step (with the +5 brightness when "bright") on
    blur_in[n] and its denoise step on denoise_in[n], with the masks of
    "msig". Writes DIR/blur_out.npy and DIR/denoise_out.npy, [N,K,H,W,3]
    uint8.
"""
import json
import math
import sys

import cv2
import numpy as np
from skimage.restoration import denoise_tv_bregman


def masks(h, w, msig):
    # vis.py: mask1 = np.ones((h, w), float32); per pixel
    #   val = sqrt(|y-cy|^2 + |x-cx|^2)
    #   mask1[y,x] = 1/(msig*sqrt(2 pi)) * eps ** (.5*((val-1)/msig)**2)
    # computed in Python floats (float64) and stored as float32, then
    # normalized in float32 arrays; mask2 = abs(1 - mask1).
    cy, cx = h // 2, w // 2
    yy, xx = np.mgrid[0:h, 0:w]
    val = np.sqrt((np.abs(yy - cy) ** 2 + np.abs(xx - cx) ** 2).astype(np.float64))
    m = 1 / (msig * math.sqrt(2 * math.pi)) * np.power(sys.float_info.epsilon, .5 * ((val - 1) / msig) ** 2)
    mask1 = m.astype(np.float32)
    mask1 = (mask1 - mask1.min()) / (mask1.max() - mask1.min())
    mask2 = abs(1 - mask1)
    return mask1, mask2


def imgaug_ksize(sigma):
    # imgaug 0.4 _compute_gaussian_blur_ksize.
    if sigma < 3.0:
        k = 3.3 * sigma
    elif sigma < 5.0:
        k = 2.9 * sigma
    else:
        k = 2.6 * sigma
    k = int(max(k, 5))
    if k % 2 == 0:
        k += 1
    return k


def blur_step(created, sigma, bright, mask1, mask2):
    # imgaug's GaussianBlur(sigma): a Deterministic parameter drawn as
    # float32; blur_gaussian_ skips sigma <= 1e-3 and otherwise calls
    # cv2.GaussianBlur on the float32 image with BORDER_REFLECT_101.
    s = np.float32(sigma)
    x = created.astype(np.float32)
    if s > 1e-3:
        k = imgaug_ksize(s)
        b = np.stack([cv2.GaussianBlur(img, (k, k), sigmaX=float(s), sigmaY=float(s),
                                       borderType=cv2.BORDER_REFLECT_101) for img in x]).astype(np.float32)
    else:
        b = x.copy()
    b *= np.asarray([mask1, mask1, mask1]).transpose(1, 2, 0)
    x *= np.asarray([mask2, mask2, mask2]).transpose(1, 2, 0).astype(np.float32)
    x += b
    if bright:
        x += 5
        x = np.clip(x, 0, 255)
    return x.astype(np.uint8)


def denoise_step(created, weight, mask1, mask2):
    created = created.astype(np.uint8)
    d = np.asarray([denoise_tv_bregman(img, weight, 100, 1e-3).astype(np.float32) for img in created])
    d *= 255
    x = created.astype(np.float32)
    d *= np.asarray([mask1, mask1, mask1]).transpose(1, 2, 0)
    x *= np.asarray([mask2, mask2, mask2]).transpose(1, 2, 0).astype(np.float32)
    x += d
    return x.astype(np.uint8)


def op_host(a):
    d = a["dir"]
    blur_in = np.load(d + "/blur_in.npy")
    denoise_in = np.load(d + "/denoise_in.npy")
    h, w = blur_in.shape[2:4]
    blur_out = np.zeros(blur_in.shape, np.uint8)
    denoise_out = np.zeros(denoise_in.shape, np.uint8)
    for n, it in enumerate(a["iterations"]):
        mask1, mask2 = masks(h, w, it["msig"])
        blur_out[n] = blur_step(blur_in[n], it["sigma"], it["bright"], mask1, mask2)
        denoise_out[n] = denoise_step(denoise_in[n], it["weight"], mask1, mask2)
    np.save(d + "/blur_out.npy", blur_out)
    np.save(d + "/denoise_out.npy", denoise_out)
    return {}


def main():
    import warnings
    warnings.simplefilter("ignore", FutureWarning)  # skimage >= 0.19 renames max_iter
    op, src, dst = sys.argv[1:4]
    with open(src) as f:
        a = json.load(f)
    out = globals()["op_" + op](a)
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
