"""Independent references for layervis/optvis tests.

Usage: python3 ref.py OP in.json out.json, where OP is one of the functions
below; each reads its inputs from in.json and writes its outputs to out.json.
"""
import json
import sys

import numpy as np


def irfft2(d):
    """numpy.fft.irfft2 of re + i·im, [n, h, L], cropped to w columns."""
    x = np.array(d["re"], np.float64) + 1j * np.array(d["im"], np.float64)
    x = x.reshape(d["dims"])
    out = np.fft.irfft2(x)[..., : d["w"]]
    return {"out": out.ravel().tolist()}


def lucid_scale(d):
    """lucid's fft_image spectrum scale, written as lucid does."""
    h, w, decay = d["h"], d["w"], d["decay"]
    fy = np.fft.fftfreq(h)[:, None]
    if w % 2 == 1:
        fx = np.fft.fftfreq(w)[: w // 2 + 2]
    else:
        fx = np.fft.fftfreq(w)[: w // 2 + 1]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay
    scale *= np.sqrt(w * h)
    return {"out": scale.ravel().tolist()}


def grid_sample(d):
    """torch affine_grid + grid_sample (bilinear, zeros, align_corners=False)
    of (img - fill), plus fill; theta maps normalized output to input."""
    import torch
    import torch.nn.functional as F

    img = torch.tensor(d["img"], dtype=torch.float64).reshape(d["dims"])
    theta = torch.tensor(d["theta"], dtype=torch.float64).reshape(-1, 2, 3)
    n, c, h, w = img.shape
    grid = F.affine_grid(theta, [theta.shape[0], c, h, w], align_corners=False)
    src = (img - d["fill"]).repeat(theta.shape[0] // n, 1, 1, 1)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + d["fill"]
    return {"out": out.ravel().tolist()}


def adam(d):
    """torch.optim.Adam minimizing sum(p * g_k) for the given gradients."""
    import torch

    p = torch.tensor(d["p"], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=d["lr"], betas=(d["beta1"], d["beta2"]), eps=d["eps"])
    for g in d["grads"]:
        opt.zero_grad()
        (p * torch.tensor(g, dtype=torch.float64)).sum().backward()
        opt.step()
    return {"out": p.detach().numpy().ravel().tolist()}


def nesterov(d):
    """torch.optim.SGD(nesterov=True) minimizing sum(p * mask * g_k) for the
    given gradients: the masked gradient is mask * g_k."""
    import torch

    p = torch.tensor(d["p"], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor(d["mask"], dtype=torch.float64)
    opt = torch.optim.SGD([p], lr=d["lr"], momentum=d["momentum"], nesterov=True)
    for g in d["grads"]:
        opt.zero_grad()
        (p * mask * torch.tensor(g, dtype=torch.float64)).sum().backward()
        opt.step()
    return {"out": p.detach().numpy().ravel().tolist()}


def objectives(d):
    """Diversity and direction objectives as lucid defines them (torch)."""
    import torch

    x = torch.tensor(d["x"], dtype=torch.float64).reshape(d["dims"])  # NCHW
    vec = torch.tensor(d["vec"], dtype=torch.float64)
    nhwc = x.permute(0, 2, 3, 1)
    b, h, w, c = nhwc.shape
    # lucid objectives.diversity (with the sign for maximizing).
    flat = nhwc.reshape(b, -1, c)
    grams = flat.transpose(1, 2) @ flat
    grams = grams / torch.sqrt(torch.clamp((grams**2).sum(dim=(1, 2), keepdim=True), min=1e-10))
    div = sum(sum((grams[i] * grams[j]).sum() for j in range(b) if j != i) for i in range(b)) / b

    def dot_cossim(x, y, pw):
        dot = (x * y).sum(-1)
        if pw == 0:
            return dot.mean()
        xm = torch.sqrt((x * x).sum(-1))
        ym = torch.sqrt((y * y).sum(-1))
        cos = dot / (1e-4 + xm) / (1e-4 + ym)
        return (dot * torch.clamp(cos, min=0.1) ** pw).mean()

    out = {
        "diversity": float(-div),
        "direction": float(dot_cossim(nhwc, vec, 0)),
        "direction_cos": float(dot_cossim(nhwc, vec, 2)),
        "direction_neuron": float(dot_cossim(nhwc[:, h // 2, w // 2], vec, 1)),
    }
    return out


def _corr():
    c = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
    return c / np.max(np.linalg.norm(c, axis=0))


def spectrum(d):
    """Mean |rfft2| of images [n, h, w, 3] (RGB) in lucid's decorrelated
    colour space, [3, h, w//2+1]."""
    x = np.array(d["pix"], np.float64).reshape(d["dims"])
    dec = x @ np.linalg.inv(_corr()).T  # rgb = C @ t  =>  t = C^-1 @ rgb
    mag = np.abs(np.fft.rfft2(np.moveaxis(dec, -1, 1)))  # [n, 3, h, L]
    return {"out": mag.mean(axis=0).ravel().tolist()}


def param_image(d):
    """lucid's fft_image + to_valid_rgb (decorrelate, sigmoid) and Xplique's
    maco_image_parametrization, in torch, for a batch."""
    import torch

    h, w = d["h"], d["w"]
    corr = torch.tensor(_corr())
    if d["kind"] == "fourier":
        v = torch.tensor(d["v"], dtype=torch.float64).reshape(d["dims"])
        scale = torch.tensor(lucid_scale({"h": h, "w": w, "decay": d["decay"]})["out"], dtype=torch.float64)
        scale = scale.reshape(h, -1)
        img = torch.fft.irfft2(torch.complex(v[0] * scale, v[1] * scale))[..., :h, :w] / 4
    else:
        phase = torch.tensor(d["v"], dtype=torch.float64).reshape(d["dims"])
        mag = torch.tensor(d["mag"], dtype=torch.float64).reshape(3, h, -1)
        imgs = []
        for p in phase:
            p = p - p.mean()
            p = p / (p.std(unbiased=False) + 1e-5)
            x = torch.fft.irfft2(torch.complex(torch.cos(p) * mag, torch.sin(p) * mag))
            x = x - x.mean()
            x = x / (x.std(unbiased=False) + 1e-5)
            imgs.append(x)
        img = torch.stack(imgs)
    img = torch.einsum("ij,bjhw->bihw", corr, img)
    return {"out": torch.sigmoid(img).numpy().ravel().tolist()}


if __name__ == "__main__":
    op, src, dst = sys.argv[1:4]
    with open(src) as f:
        d = json.load(f)
    out = globals()[op](d)
    with open(dst, "w") as f:
        json.dump(out, f)
