#!/usr/bin/env python3
"""Exports random-weight torchvision models to ONNX, with PyTorch reference
activations and input gradients, for layervis/onnx's tests.

  export.py --pyref DIR --out DIR [--size 64] [--seed 1] MODEL...

(--size does not apply to "ops", which is always OPS_SIZE.)

MODEL is one of the keys of MODELS below (torchvision architectures plus
"ops", a small network using the activation, normalization and pooling
variants that the architectures do not). DIR for --pyref is
layervis/internal/pyref, whose torchref.py provides the weight randomization
(BatchNorm statistics and affine parameters randomized, every Conv2d/Linear
rescaled to unit output std) shared with the other reference tests.

For each MODEL it writes, under --out:
  MODEL.onnx           torch.onnx.export (eval mode, constant folding, so
                       Conv+BatchNorm pairs are fused), input "input"
                       [1, 3, size, size], output "logits"
  MODEL.input.npy      the input, x = randn(1, 3, size, size) (seed --seed)
  MODEL.<i>.npy        the reference value of probe i
  MODEL.grad.npy       d mean(probe "grad") / d x
  MODEL.json           {"model", "opset", "size", "input", "probes": [
                         {"module", "layer", "onnx", "file"}], "grad":
                         {"module", "layer", "file"}}
A probe is a module's output recorded with a forward hook (its last call, as
for torchvision's reused ReLUs) or, with module "NAME:in", its input[0]
recorded with a forward pre-hook. "layer" is the layervis name to request:
the torch export's module path (a reused module's second call is NAME_1, the
export's scope name), "onnx" the ONNX output tensor name that the export
gives the module's last node, or "" where none is predicted.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class LRNOp(torch.autograd.Function):
    """F.local_response_norm, exported as one ONNX LRN node (torch's own
    export decomposes it into ~40 nodes, including an If)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        return F.local_response_norm(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g, x, size, alpha, beta, k):
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


class AvgPadOp(torch.autograd.Function):
    """F.avg_pool2d with padding and count_include_pad=True, exported as one
    AveragePool node with count_include_pad=1 (torch exports an explicit Pad
    and an AveragePool without padding instead)."""

    @staticmethod
    def forward(ctx, x, k, s, p, ceil):
        return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=True)

    @staticmethod
    def symbolic(g, x, k, s, p, ceil):
        return g.op("AveragePool", x, kernel_shape_i=[k, k], strides_i=[s, s], pads_i=[p] * 4,
                    ceil_mode_i=int(ceil), count_include_pad_i=1)


class LRN(nn.LocalResponseNorm):
    """nn.LocalResponseNorm that exports as ONNX LRN (the reference values
    come from the plain module)."""

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            return LRNOp.apply(x, self.size, self.alpha, self.beta, self.k)
        return super().forward(x)


class AvgPad(nn.AvgPool2d):
    """nn.AvgPool2d(count_include_pad=True) that exports as one AveragePool
    with count_include_pad=1."""

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            return AvgPadOp.apply(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        return super().forward(x)


class Ops(nn.Module):
    """A small network of the ops the torchvision models do not export:
    LRN, LeakyRelu, PRelu, Elu, HardSigmoid, HardSwish, Tanh, MaxPool with
    ceil_mode, AveragePool with count_include_pad and with ceil_mode, an
    unfused BatchNormalization, dilated/depthwise/grouped and non-square
    convolutions, Softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.lrn = LRN(5, alpha=0.1, beta=0.75, k=2.0)
        self.lrelu = nn.LeakyReLU(0.1)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.hsig = nn.Hardsigmoid()
        self.grp = nn.Conv2d(8, 12, 3, padding=1, groups=4, bias=False)
        self.hswish = nn.Hardswish()
        self.avg1 = AvgPad(3, 2, padding=1, ceil_mode=True, count_include_pad=True)
        self.prelu = nn.PReLU(12)
        self.wide = nn.Conv2d(12, 6, (1, 3), padding=(0, 1))
        self.elu = nn.ELU(0.7)
        self.avg2 = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
        self.tanh = nn.Tanh()
        self.fc = nn.Linear(6 * 3 * 3, 10)  # at OPS_SIZE

    def forward(self, x):
        x = self.lrelu(self.lrn(self.conv1(x)))
        x = self.bn(self.pool1(x))
        x = x * self.hsig(self.dw(x))
        x = self.avg1(self.hswish(self.grp(x)))
        x = self.avg2(self.elu(self.wide(self.prelu(x))))
        x = self.tanh(x) + torch.sigmoid(x)
        return torch.softmax(self.fc(torch.flatten(x, 1)), dim=1)


# The ops network's input size: its ceil-mode pools then all end in partial
# windows (32 → conv 16 → max-pool 8 → avg-pool 5 → avg-pool 3).
OPS_SIZE = 32


def tv(arch, **kw):
    return lambda: getattr(torchvision.models, arch)(weights=None, **kw)


# name: (constructor, opset, probes [(module, layer, onnx)], grad (module, layer))
MODELS = {
    "resnet18": (tv("resnet18"), 13, [
        ("maxpool", "maxpool", "/maxpool/MaxPool_output_0"),
        ("layer2.1.relu", "layer2.1.relu_1", "/layer2/layer2.1/relu_1/Relu_output_0"),
        ("layer3", "layer3", "/layer3/layer3.1/relu_1/Relu_output_0"),
        ("layer4.0.conv1:in", "layer4.0.conv1:in", ""),
        ("fc", "fc", "logits"),
    ], ("layer3", "layer3")),
    "googlenet": (tv("googlenet", aux_logits=False, init_weights=True, transform_input=False), 13, [
        ("maxpool1", "maxpool1", "/maxpool1/MaxPool_output_0"),
        ("inception3b", "inception3b", "/inception3b/Concat_output_0"),
        ("inception4e.branch2", "inception4e.branch2", ""),
        ("maxpool4", "maxpool4", "/maxpool4/MaxPool_output_0"),
        ("fc", "fc", "logits"),
    ], ("inception4a", "inception4a")),
    "mobilenet_v2": (tv("mobilenet_v2"), 13, [
        ("features.3", "features.3", "/features/features.3/Add_output_0"),
        ("features.7.conv.1", "features.7.conv.1", ""),
        ("features.18", "features.18", ""),
        ("classifier.1", "classifier.1", "logits"),
    ], ("features.10", "features.10")),
    "squeezenet1_1": (tv("squeezenet1_1"), 13, [
        ("features.2", "features.2", "/features/features.2/MaxPool_output_0"),
        ("features.4", "features.4", "/features/features.4/Concat_output_0"),
        ("features.12", "features.12", ""),
        ("classifier.1", "classifier.1", "/classifier/classifier.1/Conv_output_0"),
    ], ("features.7", "features.7")),
    "efficientnet_b0": (tv("efficientnet_b0"), 13, [
        ("features.1", "features.1", ""),
        ("features.4.1", "features.4.1", ""),
        ("features.8", "features.8", ""),
        ("classifier.1", "classifier.1", "logits"),
    ], ("features.5", "features.5")),
    "mobilenet_v3_small": (tv("mobilenet_v3_small"), 14, [
        ("features.1", "features.1", ""),
        ("features.4.block.2", "features.4.block.2", ""),
        ("features.12", "features.12", ""),
        ("classifier.1", "classifier.1", "/classifier/classifier.1/HardSwish_output_0"),
        ("classifier.3", "classifier.3", "logits"),
    ], ("features.6", "features.6")),
    "ops": (Ops, 14, [
        ("lrn", "lrn", "/lrn/LRN_output_0"),
        ("lrelu", "lrelu", "/lrelu/LeakyRelu_output_0"),
        ("pool1", "pool1", "/pool1/MaxPool_output_0"),
        ("bn", "bn", "/bn/BatchNormalization_output_0"),
        ("hsig", "hsig", "/hsig/HardSigmoid_output_0"),
        ("hswish", "hswish", "/hswish/HardSwish_output_0"),
        ("avg1", "avg1", "/avg1/AveragePool_output_0"),
        ("prelu", "prelu", "/prelu/PRelu_output_0"),
        ("wide", "wide", "/wide/Conv_output_0"),
        ("elu", "elu", "/elu/Elu_output_0"),
        ("avg2", "avg2", "/avg2/AveragePool_output_0"),
        ("fc", "fc", "/fc/Gemm_output_0"),
    ], ("fc", "fc")),
}


def find_module(model, path):
    modules = dict(model.named_modules())
    if path not in modules:
        sys.exit(f"export.py: no module {path!r} in {type(model).__name__}")
    return modules[path]


def randomize_prelu(model, g):
    """PReLU slopes start equal (0.25); make them differ per channel."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5)


def export(name, a, torchref):
    make, opset, probes, (grad_module, grad_layer) = MODELS[name]
    size = OPS_SIZE if name == "ops" else a.size
    torch.manual_seed(a.seed)
    model = make()
    g = torch.Generator().manual_seed(a.seed + 1000)
    torchref.randomize_bn(model, g)
    randomize_prelu(model, g)
    torchref.calibrate(model, g, size=size)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)

    path = os.path.join(a.out, name + ".onnx")
    x0 = torch.zeros(1, 3, size, size)
    torch.onnx.export(model, x0, path, opset_version=opset, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"])

    records = {}
    modules = [m for m, _, _ in probes] + [grad_module]
    for mod_name in dict.fromkeys(modules):
        is_input = mod_name.endswith(":in")
        mod = find_module(model, mod_name[:-3] if is_input else mod_name)
        if is_input:
            def pre(m, inp, key=mod_name):
                records[key] = inp[0].clone()
            mod.register_forward_pre_hook(pre)
        else:
            def post(m, inp, out, key=mod_name):
                records[key] = out.clone()
            mod.register_forward_hook(post)

    gen = torch.Generator().manual_seed(a.seed + 2000)
    x = torch.randn(1, 3, size, size, generator=gen)
    x.requires_grad_(True)
    model(x)
    (grad,) = torch.autograd.grad(records[grad_module].mean(), x)

    def save(suffix, t):
        fname = f"{name}.{suffix}.npy"
        np.save(os.path.join(a.out, fname), t.detach().numpy().astype(np.float32))
        return fname

    meta = {"model": name, "opset": opset, "size": size, "seed": a.seed,
            "input": save("input", x), "probes": [],
            "grad": {"module": grad_module, "layer": grad_layer, "file": save("grad", grad)},
            "torch_version": torch.__version__, "torchvision_version": torchvision.__version__}
    for i, (mod_name, layer, onnx_name) in enumerate(probes):
        meta["probes"].append({"module": mod_name, "layer": layer, "onnx": onnx_name,
                               "file": save(str(i), records[mod_name])})
    with open(os.path.join(a.out, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyref", required=True, help="directory of torchref.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("models", nargs="+", choices=sorted(MODELS))
    a = ap.parse_args()
    sys.path.insert(0, a.pyref)
    import torchref  # noqa: E402 (path set above)
    torchref.set_threads()
    os.makedirs(a.out, exist_ok=True)
    for name in a.models:
        export(name, a, torchref)
    print(json.dumps({"out": a.out, "models": a.models}))


if __name__ == "__main__":
    main()
