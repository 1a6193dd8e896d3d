#!/usr/bin/env python3
"""PyTorch autograd goldens for the training kernels (Sources/YOLOKit/Training/Backward).

Writes Tests/Fixtures/backward/backward_golden.json with, all in float32 on the CPU, seeded:
  block      ultralytics `Conv(3, 4, k=3, s=2)` (conv without bias → BatchNorm2d → SiLU) in training mode, with
             `initialize_weights` applied (BN eps 1e-3, momentum 0.03, as the Ultralytics model sets them), random
             BN affine and running statistics: input, upstream gradient, output, input/weight/γ/β gradients and
             the running statistics after the one step.
  head_conv  a plain nn.Conv2d with bias and groups 2 (Detect-head style convs carry a bias): dX, dW, db.
  maxpool    max_pool2d(k 3, s 1, p 1) on an input full of ties: which input each output's gradient reaches.
  attention  ultralytics `Attention(dim 8, heads 2)` in training mode (qkv, pe and proj Conv+BN, the core between)
             on [2, 8, 3, 4]: output, input gradient and every parameter's gradient and the BN running stats.
  sppf       ultralytics `SPPF(8, 8, k=5)` (cv1 without activation, three chained 5×5 max pools,
             concat, cv2 with SiLU) on [2, 8, 6, 7], the same quantities.
  c2f        ultralytics `C2f(8, 8, n=1, shortcut=True)` (cv1, chunk(2), a Bottleneck with its residual add, concat,
             cv2) on [2, 8, 5, 6], the same quantities.

The loss is sum(output · upstream) so the upstream tensor is dL/doutput.
Usage:  .venv/bin/python scripts/reference/backward_golden.py
"""
import json
import os

import torch
from ultralytics.nn.modules.block import SPPF, Attention, C2f
from ultralytics.nn.modules.conv import Conv
from ultralytics.utils.torch_utils import initialize_weights

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "backward", "backward_golden.json")


def tensor(t: torch.Tensor) -> dict:
    t = t.detach().to(torch.float32).contiguous()
    # 9 significant digits round-trip a float32 exactly and keep the file small.
    return {"shape": list(t.shape), "values": [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]}


def randomize_bn(bn: torch.nn.BatchNorm2d, g: torch.Generator) -> None:
    c = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(1 + 0.5 * torch.randn(c, generator=g))
        bn.bias.copy_(0.5 * torch.randn(c, generator=g))
        bn.running_mean.copy_(0.3 * torch.randn(c, generator=g))
        bn.running_var.copy_(0.5 + torch.rand(c, generator=g))


def bn_state(prefix: str, bn: torch.nn.BatchNorm2d, before: dict) -> dict:
    return {
        f"{prefix}.gamma": tensor(bn.weight), f"{prefix}.beta": tensor(bn.bias),
        f"{prefix}.running_mean_before": before["mean"], f"{prefix}.running_var_before": before["var"],
        f"{prefix}.running_mean": tensor(bn.running_mean), f"{prefix}.running_var": tensor(bn.running_var),
        f"{prefix}.grad_gamma": tensor(bn.weight.grad), f"{prefix}.grad_beta": tensor(bn.bias.grad),
    }


def snapshot(bn: torch.nn.BatchNorm2d) -> dict:
    return {"mean": tensor(bn.running_mean.clone()), "var": tensor(bn.running_var.clone())}


def conv_module_case(module: torch.nn.Module, convs: dict, shape: tuple, g: torch.Generator) -> dict:
    """Runs `module` (built of ultralytics `Conv`s, named in `convs`) in training mode on a random input of `shape`
    after `initialize_weights` and random conv weights / BN affine / running stats; for each Conv `name` stores
    `name.weight`, `name.grad_weight` and `name.bn.*` (affine, running stats before and after, gradients)."""
    initialize_weights(module)
    for conv in convs.values():
        assert conv.bn.eps == 1e-3 and conv.bn.momentum == 0.03
        with torch.no_grad():
            conv.conv.weight.copy_(0.4 * torch.randn(conv.conv.weight.shape, generator=g))
        randomize_bn(conv.bn, g)
    before = {name: snapshot(conv.bn) for name, conv in convs.items()}
    module.train()
    x = torch.randn(*shape, generator=g).requires_grad_(True)
    y = module(x)
    up = torch.randn(y.shape, generator=g)
    (y * up).sum().backward()
    case = {"input": tensor(x), "upstream": tensor(up), "output": tensor(y), "grad_input": tensor(x.grad)}
    for name, conv in convs.items():
        case[f"{name}.weight"] = tensor(conv.conv.weight)
        case[f"{name}.grad_weight"] = tensor(conv.conv.weight.grad)
        case.update(bn_state(f"{name}.bn", conv.bn, before[name]))
    return case


def block_case(g: torch.Generator) -> dict:
    m = Conv(3, 4, k=3, s=2)
    return conv_module_case(m, {"conv": m}, (2, 3, 7, 6), g)


def head_conv_case(g: torch.Generator) -> dict:
    conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=True)
    with torch.no_grad():
        conv.weight.copy_(0.3 * torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(torch.randn(6, generator=g))
    x = torch.randn(2, 4, 5, 7, generator=g).requires_grad_(True)
    y = conv(x)
    up = torch.randn(y.shape, generator=g)
    (y * up).sum().backward()
    return {"input": tensor(x), "weight": tensor(conv.weight), "bias": tensor(conv.bias), "upstream": tensor(up),
            "output": tensor(y), "grad_input": tensor(x.grad), "grad_weight": tensor(conv.weight.grad),
            "grad_bias": tensor(conv.bias.grad)}


def maxpool_case() -> dict:
    x = torch.tensor([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 1.0, 3.0], [0.0, 3.0, 1.0, 1.0]],
                       [[2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]]]], requires_grad=True)
    y = torch.nn.functional.max_pool2d(x, 3, 1, 1)
    up = torch.arange(1, y.numel() + 1, dtype=torch.float32).reshape(y.shape)
    (y * up).sum().backward()
    return {"input": tensor(x), "upstream": tensor(up), "output": tensor(y), "grad_input": tensor(x.grad)}


def attention_case(g: torch.Generator) -> dict:
    m = Attention(8, num_heads=2)
    case = conv_module_case(m, {"qkv": m.qkv, "pe": m.pe, "proj": m.proj}, (2, 8, 3, 4), g)
    return {"heads": m.num_heads, "key_dim": m.key_dim, "head_dim": m.head_dim, "scale": m.scale, **case}


def sppf_case(g: torch.Generator) -> dict:
    m = SPPF(8, 8, k=5)
    assert isinstance(m.cv1.act, torch.nn.Identity) and isinstance(m.cv2.act, torch.nn.SiLU) and not m.add
    return conv_module_case(m, {"cv1": m.cv1, "cv2": m.cv2}, (2, 8, 6, 7), g)


def c2f_case(g: torch.Generator) -> dict:
    m = C2f(8, 8, n=1, shortcut=True)
    assert m.m[0].add
    return conv_module_case(m, {"cv1": m.cv1, "m.0.cv1": m.m[0].cv1, "m.0.cv2": m.m[0].cv2, "cv2": m.cv2}, (2, 8, 5, 6), g)


def main() -> None:
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(20261201)
    golden = {"block": block_case(g), "head_conv": head_conv_case(g), "maxpool": maxpool_case(),
              "attention": attention_case(g), "sppf": sppf_case(g), "c2f": c2f_case(g)}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
