"""PyTorch reference for the nn tests: grouped convolutions and their input
gradients, in float64; lucid's redirected ReLU gradients.

Usage: python3 conv_ref.py grouped|redirect IN.json OUT.json

IN.json: {"cases": [{"x": NHWC values, "xshape": [B,H,W,C], "w": HWIO values,
"wshape": [kh,kw,C/G,Cout], "stride": [sh,sw], "pad": [[top,bottom],[left,right]],
"dilation": [dh,dw], "groups": G, "v": dL/dy as NHWC values}]}.
OUT.json: {"cases": [{"y": NHWC values, "dx": NHWC values}]}.

redirect: IN.json {"cases": [{"x": values, "shape": dims, "v": dL/dy, "capped": ReLU6?}]};
OUT.json {"cases": [{"y": values, "dx": the true gradient, "redirected": lucid's}]}.
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


class Redirected(torch.autograd.Function):
    """lucid/misc/redirected_relu_grad.py (redirected_relu_grad and
    redirected_relu6_grad, without the global-step switch) as a PyTorch
    function, for a loss that is minimized."""

    @staticmethod
    def forward(ctx, x, capped):
        ctx.save_for_backward(x)
        ctx.capped = capped
        return x.clamp(0, 6) if capped else x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        blocked = x < 0
        pushing_out = (x < 0) & (grad > 0)
        if ctx.capped:
            blocked = blocked | (x > 6)
            pushing_out = pushing_out | ((x > 6) & (grad < 0))
        relu_grad = torch.where(blocked, torch.zeros_like(grad), grad)
        redirected = torch.where(pushing_out, torch.zeros_like(grad), grad)
        mag = relu_grad.reshape(relu_grad.shape[0], -1).norm(dim=1)
        mag = mag.reshape([-1] + [1] * (x.dim() - 1))
        return torch.where(mag > 0, relu_grad, redirected), None


def redirect(a):
    out = []
    for c in a["cases"]:
        v = torch.tensor(c["v"], dtype=torch.float64).reshape(c["shape"])
        res = {}
        for key, f in (("dx", lambda x: F.relu6(x) if c["capped"] else F.relu(x)),
                       ("redirected", lambda x: Redirected.apply(x, c["capped"]))):
            x = torch.tensor(c["x"], dtype=torch.float64).reshape(c["shape"]).requires_grad_(True)
            y = f(x)
            (dx,) = torch.autograd.grad(y, x, v)
            res["y"], res[key] = y.reshape(-1).tolist(), dx.reshape(-1).tolist()
        out.append(res)
    return {"cases": out}


if __name__ == "__main__":
    op, src, dst = sys.argv[1:4]
    with open(src) as f:
        args = json.load(f)
    with open(dst, "w") as f:
        json.dump({"grouped": grouped, "redirect": redirect}[op](args), f)
