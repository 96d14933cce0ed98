"""PyTorch reference for the nn tests: grouped convolutions and their input
gradients, in float64.

Usage: python3 conv_ref.py grouped IN.json OUT.json

IN.json: {"cases": [{"x": NHWC values, "xshape": [B,H,W,C], "w": HWIO values,
"wshape": [kh,kw,C/G,Cout], "stride": [sh,sw], "pad": [[top,bottom],[left,right]],
"dilation": [dh,dw], "groups": G, "v": dL/dy as NHWC values}]}.
OUT.json: {"cases": [{"y": NHWC values, "dx": NHWC values}]}.
"""
import json
import sys

import torch
import torch.nn.functional as F


def grouped(a):
    out = []
    for c in a["cases"]:
        x = torch.tensor(c["x"], dtype=torch.float64).reshape(c["xshape"]).permute(0, 3, 1, 2)
        x.requires_grad_(True)
        w = torch.tensor(c["w"], dtype=torch.float64).reshape(c["wshape"]).permute(3, 2, 0, 1)
        (t, b), (l, r) = c["pad"]
        y = F.conv2d(F.pad(x, (l, r, t, b)), w, stride=c["stride"], dilation=c["dilation"], groups=c["groups"])
        v = torch.tensor(c["v"], dtype=torch.float64).reshape(y.permute(0, 2, 3, 1).shape).permute(0, 3, 1, 2)
        (dx,) = torch.autograd.grad(y, x, v)
        out.append({"y": y.permute(0, 2, 3, 1).reshape(-1).tolist(), "dx": dx.permute(0, 2, 3, 1).reshape(-1).tolist()})
    return {"cases": out}


if __name__ == "__main__":
    op, src, dst = sys.argv[1:4]
    with open(src) as f:
        args = json.load(f)
    with open(dst, "w") as f:
        json.dump({"grouped": grouped}[op](args), f)
