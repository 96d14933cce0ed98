"""Reference activations + input gradients for layervis GPU parity (float64, CPU).

Writes random-weight torchvision checkpoints (random BN statistics, so batch
norm is not the identity), a random 224x224 image, and the float64 activation
of each ARCH:LAYER and the input gradient of its mean.
Usage: python3 gen_ref.py WORKDIR ARCH:LAYER ..."""
import os, sys
import numpy as np, torch, torchvision
from PIL import Image
work = sys.argv[1]; os.makedirs(work, exist_ok=True)
torch.set_num_threads(os.cpu_count() or 1)
rng = np.random.default_rng(11)
img = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
Image.fromarray(img).save(os.path.join(work, "img.png"))
for spec in sys.argv[2:]:
    arch, layer = spec.split(":", 1)
    torch.manual_seed(4321)
    m = getattr(torchvision.models, arch)().eval()
    with torch.no_grad():  # random BN statistics, so BN is not the identity
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
    torch.save(m.state_dict(), os.path.join(work, f"{arch}.pth"))
    m = m.double()
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    x = ((torch.from_numpy(img).permute(2, 0, 1).double().unsqueeze(0) / 255.0) - mean) / std
    x.requires_grad_(True)
    store = {}
    h = dict(m.named_modules())[layer].register_forward_hook(lambda _m, _i, o: store.__setitem__("a", o))
    m(x); h.remove()
    store["a"].mean().backward()
    np.save(os.path.join(work, f"{arch}.ref_a.npy"), store["a"].detach().numpy())
    np.save(os.path.join(work, f"{arch}.ref_g.npy"), x.grad.numpy())
    print("ref", arch, layer, tuple(store["a"].shape), flush=True)
