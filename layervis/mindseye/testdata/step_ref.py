#!/usr/bin/env python3
"""PyTorch reference for one Mind's Eye iteration (the gradient step of vis.py).

Written from the method note (shared/reference/minds-eye-method.md, section
4.3-4.5), independently of the Go code, with torch 1.13 / torchvision 0.14 on
the CPU.

step --arch resnet18 --weights model.pth --dir DIR [--steps 1]
    Reads from DIR:
      pixels.npy  [K,H,W,3] float32, 8-bit values, display (RGB) order
      target.npy  [K,C] float32, the facets' target vectors T
      mask.npy    [H,W] float32, the gradient mask (mask1)
      meta.json   {"channels": [[...], ...] (K lists of equal length),
                   "preset": "compat" | "clean", "bgr": bool,
                   "momentum": 0.9, "persistent": bool,
                   "lr": [...], "lambda": [...] (one per step),
                   "target": "layer4", "penalty": "layer4.1.conv2:in",
                   "mean": [...], "std": [...]}
    Runs --steps iterations of: preprocess (BGR quirk: the network gets the
    channels reversed), forward through the trunk (children[:-2]) with hooks,
    the loss, backward, grad *= mask, SGD(nesterov, momentum) step (a fresh
    optimizer each step unless "persistent"), recreate_image (de-normalize,
    clip, np.round(v*255)). Writes to DIR:
      terms.json        [[activation, distance, l1, total], ...] per step
      grad_S.npy        the input gradient of step S (before masking)
      pixels_out_S.npy  the quantized images after step S (display order),
                        the input of step S+1

    Loss, compat (vis.py as coded):
      class_loss = -sum(out[:, S] * T[:, S], -1)          # [K,K]
      class_loss += lambda * ||P||_1 ; class_loss += mean(rho(out - T)) + logZ
      loss = class_loss.sum()                              # terms counted K^2
    Loss, clean (per image k): -<out_k[S_k], T_k[S_k]> + mean_j rho + logZ
      + lambda * ||P_k||_1, summed over k.
    rho(r) = sqrt(r^2 + 1) - 1 (Barron's loss at alpha = 1, c = 1);
    logZ = log(2 e K1(1)).

bench --arch resnet18 --k 4 --size 128 --iters 5 [--threads 2]
    Times the same step (compat loss; random weights, random 8-bit images,
    random targets, n = 50 random channels per facet, parameters frozen so
    only the input gradient is computed) after 2 warm-up steps and prints
    JSON {"arch", "k", "size", "iters", "median_s", "min_s", "threads",
    "torch_version"}.
"""
import argparse
import json
import math
import os
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision


def log_partition():
    k1 = torch.special.modified_bessel_k1(torch.tensor(1.0, dtype=torch.float64)).item()
    return math.log(2 * math.e * k1)


MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def bench(a):
    """Times preprocess, forward, compat loss, backward, mask, SGD, recreate."""
    g = torch.Generator().manual_seed(1)
    model = getattr(torchvision.models, a.arch)(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    trunk = torch.nn.Sequential(*list(model.children())[:-2])
    mods = dict(model.named_modules())
    last_block = [n for n in mods if n.startswith("layer4.") and n.count(".") == 1][-1]
    last_conv = "conv3" if hasattr(mods[last_block], "conv3") else "conv2"
    store = {}
    mods["layer4"].register_forward_hook(lambda m, i, o: store.__setitem__("t", o))
    mods[last_block + "." + last_conv].register_forward_pre_hook(lambda m, i: store.__setitem__("p", i[0]))
    K, S = a.k, a.size
    with torch.no_grad():
        C = trunk(torch.zeros(1, 3, S, S)).shape[1]
    pixels = torch.randint(0, 256, (K, S, S, 3), generator=g).float().numpy()
    target_maps = torch.rand(K, C, generator=g)
    channels = [sorted(torch.randperm(C, generator=g)[:min(50, C)].tolist()) for _ in range(K)]
    mask1 = torch.rand(S, S, generator=g)
    logz = log_partition()

    def step(pixels):
        x = np.ascontiguousarray(pixels[..., ::-1].transpose(0, 3, 1, 2)).copy()
        for c in range(3):
            x[:, c] = (x[:, c] / 255 - MEAN[c]) / STD[c]
        x = torch.from_numpy(x).requires_grad_(True)
        trunk(x)
        A, P = store["t"], store["p"]
        out = F.avg_pool2d(A, kernel_size=A.shape[2:]).squeeze(-1).squeeze(-1)
        act = -torch.sum(out[:, channels] * target_maps[:, channels], dim=-1)
        dist = torch.mean(torch.sqrt((out - target_maps) ** 2 + 1) - 1 + logz)
        loss = (act + 3e-4 * torch.norm(P, p=1) + dist).sum()
        loss.backward()
        x.grad *= mask1
        opt = torch.optim.SGD([x], lr=0.3, momentum=0.9, nesterov=True)
        opt.step()
        rec = x.detach().numpy().copy()
        for c in range(3):
            rec[:, c] = rec[:, c] * STD[c] + MEAN[c]
        rec = np.round(np.clip(rec, 0, 1) * 255).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(rec[..., ::-1])

    for _ in range(2):
        pixels = step(pixels)
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        pixels = step(pixels)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"arch": a.arch, "k": K, "size": S, "iters": a.iters,
                      "median_s": statistics.median(times), "min_s": min(times),
                      "threads": torch.get_num_threads(), "torch_version": torch.__version__,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["step", "bench"])
    ap.add_argument("--arch", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--dir")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int)
    a = ap.parse_args()
    torch.set_num_threads(a.threads or int(os.environ.get("OMP_NUM_THREADS") or "1"))
    if a.cmd == "bench":
        bench(a)
        return

    meta = json.load(open(os.path.join(a.dir, "meta.json")))
    pixels = np.load(os.path.join(a.dir, "pixels.npy")).astype(np.float32)
    target_maps = torch.from_numpy(np.load(os.path.join(a.dir, "target.npy")))
    mask1 = torch.from_numpy(np.load(os.path.join(a.dir, "mask.npy")))
    channels = meta["channels"]
    mean, std = meta["mean"], meta["std"]
    K, C = target_maps.shape
    logz = log_partition()

    model = getattr(torchvision.models, a.arch)(weights=None)
    model.load_state_dict(torch.load(a.weights))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    trunk = torch.nn.Sequential(*list(model.children())[:-2])
    mods = dict(model.named_modules())
    store = {}
    tname, pname = meta["target"], meta["penalty"]
    mods[tname].register_forward_hook(lambda m, i, o: store.__setitem__("t", o))
    if pname.endswith(":in"):
        mods[pname[:-3]].register_forward_pre_hook(lambda m, i: store.__setitem__("p", i[0]))
    else:
        mods[pname].register_forward_hook(lambda m, i, o: store.__setitem__("p", o))

    terms_all, buf = [], None
    for step in range(a.steps):
        lr, lam = meta["lr"][step], meta["lambda"][step]
        arr = pixels[..., ::-1] if meta["bgr"] else pixels  # what the network sees
        x = np.ascontiguousarray(arr.transpose(0, 3, 1, 2)).copy()
        for c in range(3):
            x[:, c] = (x[:, c] / 255 - mean[c]) / std[c]
        x = torch.from_numpy(x).requires_grad_(True)
        trunk(x)
        A, P = store["t"], store["p"]
        out = F.avg_pool2d(A, kernel_size=A.shape[2:]).squeeze(-1).squeeze(-1)  # [K,C]
        rho = torch.sqrt((out - target_maps) ** 2 + 1) - 1
        if meta["preset"] == "compat":
            act = -torch.sum(out[:, channels] * target_maps[:, channels], dim=-1)  # [K,K]
            l1 = lam * torch.norm(P, p=1)
            dist = torch.mean(rho + logz)
            loss = (act + l1 + dist).sum()
            terms = [act.sum().item(), K * K * dist.item(), K * K * l1.item()]
        else:
            per = []
            act_t = dist_t = l1_t = 0.0
            for k in range(K):
                s = channels[k]
                ak = -torch.sum(out[k, s] * target_maps[k, s])
                dk = torch.mean(rho[k] + logz)
                lk = lam * torch.norm(P[k], p=1)
                per.append(ak + dk + lk)
                act_t += ak.item()
                dist_t += dk.item()
                l1_t += lk.item()
            loss = torch.stack(per).sum()
            terms = [act_t, dist_t, l1_t]
        loss.backward()
        terms.append(loss.item())
        terms_all.append(terms)
        grad = x.grad.detach().clone()
        g = x.grad * mask1  # x.grad *= mask1
        mu = meta["momentum"]
        # torch.optim.SGD(nesterov=True) on its first step: buf = g,
        # update = g + mu * buf; persistent: buf = mu * buf + g.
        if meta["persistent"] and buf is not None:
            buf = mu * buf + g
        else:
            buf = g.clone()
        if not meta["persistent"]:
            opt = torch.optim.SGD([x], lr=lr, momentum=mu, nesterov=True)
            x.grad = g
            opt.step()
            newx = x.detach()
        else:
            newx = x.detach() - lr * (g + mu * buf)
        rec = newx.numpy().copy()
        for c in range(3):
            rec[:, c] = rec[:, c] * std[c] + mean[c]
        rec = np.clip(rec, 0, 1)
        rec = np.round(rec * 255).transpose(0, 2, 3, 1)
        pixels = np.ascontiguousarray(rec[..., ::-1] if meta["bgr"] else rec).astype(np.float32)
        np.save(os.path.join(a.dir, f"grad_{step}.npy"), grad.numpy().astype(np.float32))
        np.save(os.path.join(a.dir, f"pixels_out_{step}.npy"), pixels)

    json.dump(terms_all, open(os.path.join(a.dir, "terms.json"), "w"))


if __name__ == "__main__":
    main()
