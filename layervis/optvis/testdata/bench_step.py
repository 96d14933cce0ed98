"""Time one feature-visualization step in PyTorch, the counterpart of
BenchmarkRenderStep: 4 images of 128², lucid's Fourier parameterization
(1/f scale, decorrelated colour, sigmoid), lucid's standard transforms as one
affine grid_sample per image, ImageNet normalization, random-weight
ResNet-18 up to layer4, the mean of channel 7, backward, Adam (lr 0.05).

Usage: /usr/bin/python3 bench_step.py [--steps N] [--threads T]
"""
import argparse
import math
import os
import random
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=20)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--size", type=int, default=128)
p.add_argument("--batch", type=int, default=4)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
random.seed(0)

n, h, w = a.batch, a.size, a.size
net = torchvision.models.resnet18().eval()
for q in net.parameters():
    q.requires_grad_(False)
body = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)

fy = np.fft.fftfreq(h)[:, None]
fx = np.fft.fftfreq(w)[: w // 2 + 1]
freqs = np.sqrt(fx * fx + fy * fy)
scale = torch.tensor(np.sqrt(w * h) / np.maximum(freqs, 1.0 / max(w, h)), dtype=torch.float32)
spec = (0.01 * torch.randn(2, n, 3, h, w // 2 + 1)).requires_grad_(True)
corr = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
corr = corr / corr.norm(dim=0).max()
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
opt = torch.optim.Adam([spec], lr=0.05)


def image():
    x = torch.fft.irfft2(torch.complex(spec[0] * scale, spec[1] * scale), s=(h, w)) / 4
    x = torch.einsum("ij,bjhw->bihw", corr, x)
    return torch.sigmoid(x)


def transforms():
    # pad 12, jitter 8, scale 0.9..1.1, rotate -10..10, jitter 4, as one map.
    thetas = []
    for _ in range(n):
        s = random.choice([1 + (i - 5) / 50 for i in range(11)])
        ang = math.radians(random.choice(list(range(-10, 11)) + [0] * 5))
        tx = (random.randint(0, 8) + random.randint(0, 4) - 6) * 2 / w
        ty = (random.randint(0, 8) + random.randint(0, 4) - 6) * 2 / h
        c, si = math.cos(ang) / s, math.sin(ang) / s
        thetas.append([[c, -si, tx], [si, c, ty]])
    return torch.tensor(thetas, dtype=torch.float32)


times = []
for step in range(a.steps + 1):
    t0 = time.perf_counter()
    opt.zero_grad()
    img = image()
    grid = F.affine_grid(transforms(), [n, 3, h, w], align_corners=False)
    x = F.grid_sample(img - 0.5, grid, align_corners=False) + 0.5
    act = body((x - mean) / std)
    loss = -act[:, 7].mean()
    loss.backward()
    opt.step()
    times.append(time.perf_counter() - t0)
ms = 1000 * sum(times[1:]) / a.steps
print(f"pytorch {torch.__version__}, {a.threads} threads: {ms:.1f} ms/step ({n} images, {h}x{w}, resnet18 to layer4)")
