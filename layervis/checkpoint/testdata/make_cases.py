#!/usr/bin/env python3
"""Writes PyTorch checkpoints (and reference values) for the checkpoint tests.

  make_cases.py tiny --out DIR   small files, committed under testdata/ as the
                                 Go-only tests' fixtures and fuzz seeds
  make_cases.py full --out DIR   torchvision resnet18 and odd tensors, written
                                 at test time (needs torch + torchvision)

For every checkpoint file CASE.{pth,safetensors} it writes CASE.json:
  {"file": ..., "format": ..., "names": [...], "shapes": {...}, "dtypes": {...},
   "bin": "CASE.bin", "offset": {name: first element in the .bin}}
and CASE.bin ("bin" in the JSON; cases holding the same tensors share one):
every tensor's values as float32 little-endian (tensor.float(), row-major),
concatenated; "offset" gives each tensor's first element. The names are those
Go must report (state-dict order, "module." stripped; sorted for safetensors).
"""
import argparse
import collections
import json
import os
import sys

import torch

# The safetensors writer is shared with the PyTorch reference script.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "internal", "pyref"))
from torchref import write_safetensors  # noqa: E402

GO_DTYPES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
}


def write_reference(out, case, file, fmt, tensors, bin_case=None):
    """tensors: ordered mapping of the names and tensors Go must report.
    With bin_case, the values are those already in bin_case.bin (same
    tensors), and only CASE.json is written."""
    meta = {"file": file, "format": fmt, "names": [], "shapes": {}, "dtypes": {}, "offset": {},
            "bin": (bin_case or case) + ".bin"}
    pos = 0
    f = None if bin_case else open(os.path.join(out, case + ".bin"), "wb")
    if bin_case:
        with open(os.path.join(out, bin_case + ".json")) as g:
            offsets = json.load(g)["offset"]
    for name, t in tensors.items():
        meta["names"].append(name)
        meta["shapes"][name] = list(t.shape)
        meta["dtypes"][name] = GO_DTYPES[t.dtype]
        if bin_case:
            meta["offset"][name] = offsets[name]
            continue
        meta["offset"][name] = pos
        v = t.detach().float().contiguous()
        f.write(v.numpy().astype("<f4").tobytes())
        pos += v.numel()
    if f:
        f.close()
    with open(os.path.join(out, case + ".json"), "w") as g:
        json.dump(meta, g, indent=1)


def save_case(out, case, obj, expected, legacy=False, protocol=2, bin_case=None):
    file = case + ".pth"
    torch.save(obj, os.path.join(out, file), _use_new_zipfile_serialization=not legacy,
               pickle_protocol=protocol)
    write_reference(out, case, file, "pytorch-legacy" if legacy else "pytorch-zip", expected, bin_case)


def save_st_case(out, case, tensors, bin_case=None):
    file = case + ".safetensors"
    write_safetensors(os.path.join(out, file), tensors)
    write_reference(out, case, file, "safetensors",
                    collections.OrderedDict(sorted(tensors.items())), bin_case)


def odd_tensors(g, big):
    """Tensors exercising strides, offsets, sharing and every dtype."""
    n = 6 if big else 3
    base = torch.randn(n * 4, n, generator=g)
    sd = collections.OrderedDict()
    sd["transposed"] = torch.randn(n, n + 2, generator=g).t()          # non-contiguous
    sd["slice_offset"] = base[2:5]                                       # storage offset
    sd["column"] = base[:, 1]                                            # offset + stride
    sd["channels_last"] = torch.randn(2, 3, n, n, generator=g).contiguous(
        memory_format=torch.channels_last)
    sd["permuted"] = torch.randn(2, 3, 4, generator=g).permute(2, 0, 1)
    sd["expanded"] = torch.randn(n, 1, generator=g).expand(n, 4)        # stride 0
    sd["tied_a"] = base                                                  # shares storage
    sd["half"] = (torch.randn(n, n, generator=g) * 10).half()
    sd["half_special"] = torch.tensor([0.0, -0.0, 6e-8, 1e-5, 65504.0, float("inf"),
                                       -float("inf"), 1.0 / 3], dtype=torch.float16)
    sd["bfloat"] = (torch.randn(n, 2, generator=g) * 100).bfloat16()
    sd["bfloat_t"] = torch.randn(3, n, generator=g).bfloat16().t()
    sd["double"] = torch.randn(n, generator=g, dtype=torch.float64) * 1e3
    sd["int64"] = torch.tensor([0, -1, 2**40 + 1, -(2**35)], dtype=torch.int64)
    sd["int32"] = torch.arange(-3, 3, dtype=torch.int32).reshape(2, 3).t()
    sd["int16"] = torch.tensor([-32768, 5, 32767], dtype=torch.int16)
    sd["int8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["uint8"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["num_batches_tracked"] = torch.tensor(7)
    return sd


def tiny(out):
    g = torch.Generator().manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    sd = conv.state_dict()
    sd.update(odd_tensors(g, big=False))
    save_case(out, "tiny", sd, sd)
    save_case(out, "tiny_legacy", sd, sd, legacy=True, bin_case="tiny")
    wrapped = {"state_dict": collections.OrderedDict(("module." + k, v) for k, v in conv.state_dict().items()),
               "epoch": 3, "arch": "tiny", "best_acc": 0.5}
    save_case(out, "tiny_wrapped", wrapped, conv.state_dict())
    st = collections.OrderedDict((k, v) for k, v in sd.items())
    save_st_case(out, "tiny_st", st, bin_case="tiny")


def full(out):
    import torchvision
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    model = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.num_batches_tracked.fill_(11)
    sd = model.state_dict()
    save_case(out, "resnet18", sd, sd)
    save_case(out, "resnet18_legacy", sd, sd, legacy=True, bin_case="resnet18")
    save_st_case(out, "resnet18_st", collections.OrderedDict(sd), bin_case="resnet18")

    odd = odd_tensors(g, big=True)
    save_case(out, "odd", odd, odd)
    save_case(out, "odd_legacy", odd, odd, legacy=True)
    save_case(out, "odd_p4", odd, odd, protocol=4)  # pickle FRAMEs
    save_case(out, "odd_legacy_p4", odd, odd, legacy=True, protocol=4)
    save_st_case(out, "odd_st", collections.OrderedDict((k, v.contiguous()) for k, v in odd.items()))

    small = collections.OrderedDict((k, v) for k, v in sd.items() if k.startswith("layer1.0."))
    wrapped = {
        "state_dict": collections.OrderedDict(("module." + k, v) for k, v in small.items()),
        "epoch": 90,
        "arch": "resnet18",
        "args": argparse.Namespace(lr=0.1, momentum=0.9, arch="resnet18"),
        "optimizer": {"state": {0: {"momentum_buffer": torch.ones(3)}},
                      "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
    }
    save_case(out, "wrapped", wrapped, small)
    save_case(out, "wrapped_legacy", wrapped, small, legacy=True)
    for key in ("model", "model_state_dict", "state_dict_ema"):
        save_case(out, "wrapped_" + key, {key: small, "step": 5}, small)
    param = collections.OrderedDict(w=torch.nn.Parameter(torch.randn(3, 2, generator=g)))
    save_case(out, "parameter", param, param)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["tiny", "full"])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    {"tiny": tiny, "full": full}[a.mode](a.out)
    print(json.dumps({"torch": torch.__version__, "out": a.out}))


if __name__ == "__main__":
    sys.exit(main())
