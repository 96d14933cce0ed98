#!/usr/bin/env python3
"""PyTorch reference computations for layervis tests and benchmarks.

Needs python3 with torch 1.13 and torchvision 0.14 (Debian's python3-torch and
python3-torchvision), CPU only. Every run is deterministic for a given --seed.
torch.set_num_threads takes OMP_NUM_THREADS (default 1; --threads overrides).

Subcommands
-----------
checkpoint --arch resnet18 --seed 1 --out DIR
    A random-weight torchvision model (torchvision.models.<arch>(weights=None))
    with its BatchNorm layers randomized, so that BN is not the identity:
    running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5), weight ~ U(0.5, 1.5),
    bias ~ N(0, 0.1). Then every Conv2d and Linear is rescaled (weight and
    bias divided by one scalar) so that its output has unit standard
    deviation on a random N(0, 1) input batch in eval mode (--no-calibrate
    skips this), which keeps activations from exploding or vanishing in deep
    nets whatever the BN statistics.
    Writes DIR/model.pth (torch.save(model.state_dict()), zip format),
    DIR/model.safetensors (written by hand: floating tensors as F32, integer
    buffers such as num_batches_tracked as I64) and DIR/checkpoint.json
    (arch, seed, names, shapes).

activations --arch ARCH --weights DIR/model.pth --size 64 --batch 2 --seed 2
            --layers a,b,c [--grad-layer L] --out DIR
    Loads the weights into torchvision.models.<arch>(weights=None), makes a
    random input x = torch.randn(batch, 3, size, size) (float32 NCHW, already
    in normalized space) saved as DIR/input.npy, runs model.eval() forward with
    hooks and saves DIR/<layer>.npy (float32) for each requested layer.
    A layer name is a module path from model.named_modules() ("layer4.2",
    "layer4.2.conv3", "features.29", "layer1", "maxpool") and means that
    module's OUTPUT; with the suffix ":in" ("layer4.2.conv3:in") it means the
    module's INPUT (forward pre-hook, input[0]); the file is then named
    "layer4.2.conv3:in.npy".
    A module called several times in one forward pass keeps its LAST call.
    This matters for torchvision's BasicBlock/Bottleneck, which reuse one
    nn.ReLU module 2-3 times: "layer1.0.relu" is the last ReLU of the block,
    i.e. the block output after the residual add (equal to "layer1.0"), and
    "layer1.0.relu:in" is the sum before that ReLU.
    --grad-layer L also saves DIR/grad.npy: the gradient of mean(activation of
    L over all its elements) with respect to the input (same shape as input),
    and records in meta.json "relu_margin": the smallest |input| of any ReLU
    call in a float64 forward pass of the same model and input. A ReLU input
    within float32 rounding of 0 may fall on either side in any float32
    implementation, and the gradient's mask with it: one such unit deep in
    ResNet-152 changed the whole input gradient by 7e-4 (relative). Gradient
    parity is well posed only where the margin exceeds float32's error.
    DIR/meta.json records arch, size, batch, seed, layers, shapes and files.

bench --arch resnet50 --size 224 --layer layer4 --threads 2 --iters 10 [--batch 1]
    Times one step of activation maximization: forward to the layer (the model
    truncated: the top-level children up to that module, and inside
    nn.Sequential containers the children up to it; avgpool and fc are never
    run), backward with respect to the input only (all parameters have
    requires_grad False), and the update x -= lr * grad. After 2 warm-up steps
    prints JSON {"arch", "size", "layer", "batch", "iters", "median_s",
    "min_s", "threads", "torch_version"}. A layer inside a non-Sequential
    module (e.g. "layer4.2.conv3") is reached by running the whole model and
    stopping at that module's first call.
"""
import argparse
import collections
import copy
import json
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision


def set_threads(n=None):
    if n is None:
        n = int(os.environ.get("OMP_NUM_THREADS") or "1")
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def build_model(arch):
    fn = getattr(torchvision.models, arch, None)
    if fn is None or not callable(fn) or arch.startswith("_"):
        sys.exit(f"torchref: unknown torchvision architecture {arch!r}")
    return fn(weights=None)


def randomize_bn(model, g):
    """Randomizes every BatchNorm's statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def calibrate(model, g, size=64, batch=2):
    """Rescales each Conv2d/Linear so that its output has unit std (eval mode).

    One forward pass: each hook rescales its module's weight (and bias) and
    returns the rescaled output, so later layers see calibrated inputs."""
    def hook(m, inp, out):
        s = float(out.std())
        if s > 0 and s == s and s != float("inf"):
            m.weight.div_(s)
            if m.bias is not None:
                m.bias.div_(s)
            return out / s
        return out

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    x = torch.randn(batch, 3, size, size, generator=g)
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()


def tensor_bytes(t):
    """Raw little-endian bytes of t in row-major order."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


ST_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
    torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}


def write_safetensors(path, tensors, metadata=None):
    """Writes an ordered mapping name -> tensor in the safetensors format:
    8-byte little-endian header length, JSON header (padded with spaces to a
    multiple of 8), raw little-endian data."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def cmd_checkpoint(a):
    set_threads()
    torch.manual_seed(a.seed)
    model = build_model(a.arch)
    g = torch.Generator().manual_seed(a.seed + 1000)
    randomize_bn(model, g)
    if a.calibrate:
        calibrate(model, g)
    os.makedirs(a.out, exist_ok=True)
    sd = model.state_dict()
    torch.save(sd, os.path.join(a.out, "model.pth"))
    st = collections.OrderedDict(
        (k, v.float() if v.is_floating_point() else v) for k, v in sd.items())
    write_safetensors(os.path.join(a.out, "model.safetensors"), st,
                      {"format": "pt", "arch": a.arch, "seed": str(a.seed)})
    meta = {"arch": a.arch, "seed": a.seed, "calibrated": a.calibrate,
            "names": list(sd.keys()), "shapes": {k: list(v.shape) for k, v in sd.items()},
            "torch_version": torch.__version__, "torchvision_version": torchvision.__version__}
    with open(os.path.join(a.out, "checkpoint.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({"out": a.out, "tensors": len(sd)}))


def load_weights(model, path):
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch without weights_only
        sd = torch.load(path, map_location="cpu")
    model.load_state_dict(sd)


def relu_margin(model, x):
    """The smallest |input| of any ReLU call of a float64 forward pass."""
    m64 = copy.deepcopy(model).double()
    smallest = [float("inf")]

    def pre(mod, inp):
        smallest[0] = min(smallest[0], inp[0].detach().abs().min().item())

    for mod in m64.modules():
        if isinstance(mod, torch.nn.ReLU):
            mod.register_forward_pre_hook(pre)
    with torch.no_grad():
        m64(x.double())
    return smallest[0]


def split_layer(name):
    """'a.b:in' -> ('a.b', True); 'a.b' -> ('a.b', False)."""
    if name.endswith(":in"):
        return name[:-3], True
    return name, False


def find_module(model, path):
    modules = dict(model.named_modules())
    if path not in modules:
        near = [n for n in modules if n and (n.startswith(path.split(".")[0]))][:20]
        sys.exit(f"torchref: no module {path!r} in {type(model).__name__}; some names: {near}")
    return modules[path]


def cmd_activations(a):
    set_threads()
    model = build_model(a.arch)
    load_weights(model, a.weights)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    layers = [l for l in a.layers.split(",") if l] if a.layers else []
    wanted = list(dict.fromkeys(layers + ([a.grad_layer] if a.grad_layer else [])))
    records = {}
    handles = []
    for name in wanted:
        path, is_input = split_layer(name)
        mod = find_module(model, path)
        if is_input:
            def pre(m, inp, name=name):
                records[name] = inp[0].clone()  # the last call wins
            handles.append(mod.register_forward_pre_hook(pre))
        else:
            def post(m, inp, out, name=name):
                if not torch.is_tensor(out):
                    sys.exit(f"torchref: module {name!r} returns {type(out).__name__}, not a tensor")
                records[name] = out.clone()  # the last call wins; clone: later inplace ops
            handles.append(mod.register_forward_hook(post))

    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "input.npy"), x.numpy().astype(np.float32))
    x.requires_grad_(a.grad_layer is not None)
    with torch.set_grad_enabled(a.grad_layer is not None):
        model(x)
    for h in handles:
        h.remove()
    meta = {"arch": a.arch, "weights": a.weights, "size": a.size, "batch": a.batch, "seed": a.seed,
            "layers": layers, "grad_layer": a.grad_layer, "input_shape": list(x.shape),
            "shapes": {}, "files": {"input": "input.npy"},
            "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
            "note": "a module called several times per forward (e.g. torchvision's reused "
                    "block ReLU) records its last call; ':in' is the module's input[0]"}
    for name in wanted:
        if name not in records:
            sys.exit(f"torchref: module {name!r} was not called in the forward pass")
    if a.grad_layer:
        act = records[a.grad_layer]
        (grad,) = torch.autograd.grad(act.mean(), x)
        np.save(os.path.join(a.out, "grad.npy"), grad.detach().numpy().astype(np.float32))
        meta["files"]["grad"] = "grad.npy"
        meta["shapes"]["grad"] = list(grad.shape)
        meta["relu_margin"] = relu_margin(model, x.detach())
    for name in layers:
        v = records[name].detach().float().numpy()
        np.save(os.path.join(a.out, name + ".npy"), v)
        meta["files"][name] = name + ".npy"
        meta["shapes"][name] = list(v.shape)
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({"out": a.out, "shapes": meta["shapes"]}))


class _Stop(Exception):
    pass


class EarlyStop(nn.Module):
    """Runs model until the module's first call, returning its output."""

    def __init__(self, model, module):
        super().__init__()
        self.model = model
        self.out = None
        module.register_forward_hook(self._hook)

    def _hook(self, m, inp, out):
        self.out = out
        raise _Stop()

    def forward(self, x):
        try:
            self.model(x)
        except _Stop:
            return self.out
        raise RuntimeError("layer not reached")


def truncate(model, path):
    """nn.Sequential of the modules run before and including path, or an
    EarlyStop wrapper when path is inside a non-Sequential module."""
    seq = []
    parent = model
    parts = path.split(".")
    for depth, part in enumerate(parts):
        children = list(parent.named_children())
        names = [n for n, _ in children]
        if part not in names:
            sys.exit(f"torchref: no module {path!r} in {type(model).__name__}")
        if depth > 0 and not isinstance(parent, nn.Sequential):
            return EarlyStop(model, find_module(model, path))
        idx = names.index(part)
        seq.extend(m for _, m in children[:idx])
        parent = children[idx][1]
    seq.append(parent)
    return nn.Sequential(*seq)


def cmd_bench(a):
    threads = set_threads(a.threads)
    torch.manual_seed(a.seed)
    model = build_model(a.arch)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    net = truncate(model, a.layer)
    net.eval()
    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g).requires_grad_(True)

    def step():
        out = net(x)
        (grad,) = torch.autograd.grad(out.mean(), x)
        with torch.no_grad():
            x.sub_(a.lr * grad)

    for _ in range(2):
        step()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"arch": a.arch, "size": a.size, "layer": a.layer, "batch": a.batch,
                      "iters": a.iters, "median_s": statistics.median(times), "min_s": min(times),
                      "threads": threads, "torch_version": torch.__version__,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("checkpoint", help="random-weight torchvision model -> model.pth, model.safetensors")
    c.add_argument("--arch", default="resnet18")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--out", required=True)
    c.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                   help="keep torchvision's init scale for conv/linear weights")

    v = sub.add_parser("activations", help="layer activations and input gradient")
    v.add_argument("--arch", default="resnet18")
    v.add_argument("--weights", required=True)
    v.add_argument("--size", type=int, default=64)
    v.add_argument("--batch", type=int, default=2)
    v.add_argument("--seed", type=int, default=2)
    v.add_argument("--layers", default="")
    v.add_argument("--grad-layer", dest="grad_layer", default=None)
    v.add_argument("--out", required=True)

    b = sub.add_parser("bench", help="time forward-to-layer + input backward + update")
    b.add_argument("--arch", default="resnet50")
    b.add_argument("--size", type=int, default=224)
    b.add_argument("--layer", default="layer4")
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--iters", type=int, default=10)
    b.add_argument("--batch", type=int, default=1)
    b.add_argument("--lr", type=float, default=0.05)
    b.add_argument("--seed", type=int, default=0)

    a = ap.parse_args(argv)
    {"checkpoint": cmd_checkpoint, "activations": cmd_activations, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
