"""Anchor benchmark: the cost of one activation-maximisation step in PyTorch
eager mode (the unit of work examples/bench times in layervis).

One step = forward to the last ResNet stage + gradient w.r.t. the input only
+ an update. Weights are random (timing only); on CUDA TF32 is on, as in
PyTorch's defaults for convolutions. Prints one line per case.
Usage: python3 torch_step.py cpu|cuda ARCH:BATCH:SIZE[,...] [STEPS]
"""
import os
import sys
import time

import torch
import torchvision

dev, cases = sys.argv[1], [c.split(":") for c in sys.argv[2].split(",")]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
torch.backends.cudnn.benchmark = True
if dev == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
else:
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


for arch, batch, size in cases:
    batch, size = int(batch), int(size)
    m = getattr(torchvision.models, arch)().eval()
    net = torch.nn.Sequential(*list(m.children())[:-2]).to(dev)  # up to layer4
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.randn(batch, 3, size, size, device=dev, requires_grad=True)

    def step():
        (g,) = torch.autograd.grad(net(x).mean(), x)
        with torch.no_grad():
            x.sub_(0.01 * g)

    for _ in range(3):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = (time.perf_counter() - t) / steps
    print(f"torch {dev} {arch} batch={batch} size={size} step_ms={dt * 1e3:.2f} image-steps/s={batch / dt:.1f}", flush=True)
