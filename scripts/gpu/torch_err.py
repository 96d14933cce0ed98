"""PyTorch's own float32 error against gen_ref.py's float64 references, on
the CPU and, where CUDA is available, on the GPU with and without TF32: the
anchor for layervis's parity figures.
Usage: python3 torch_err.py WORKDIR ARCH:LAYER ...
"""
import sys

import numpy as np
import torch
import torchvision
from PIL import Image

work = sys.argv[1]
img = np.array(Image.open(work + "/img.png"))
devs = [("cpu", False)] + ([("cuda", True), ("cuda", False)] if torch.cuda.is_available() else [])
for spec in sys.argv[2:]:
    arch, layer = spec.split(":", 1)
    ra, rg = np.load(f"{work}/{arch}.ref_a.npy"), np.load(f"{work}/{arch}.ref_g.npy")
    m = getattr(torchvision.models, arch)()
    m.load_state_dict(torch.load(f"{work}/{arch}.pth"))
    m.eval()
    for dev, tf32 in devs:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        mm = m.to(dev)
        mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
        x = ((torch.from_numpy(img).permute(2, 0, 1).float().unsqueeze(0).to(dev) / 255.0) - mean) / std
        x.requires_grad_(True)
        st = {}
        h = dict(mm.named_modules())[layer].register_forward_hook(lambda _m, _i, o: st.__setitem__("a", o))
        mm(x)
        h.remove()
        st["a"].mean().backward()
        e = lambda r, g: np.max(np.abs(r - g)) / np.max(np.abs(r))
        print(f"torch {arch} {dev} tf32={tf32}: act {e(ra, st['a'].detach().cpu().numpy()):.2e} "
              f"grad {e(rg, x.grad.cpu().numpy()):.2e}", flush=True)
