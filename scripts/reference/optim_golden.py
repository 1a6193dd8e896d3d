#!/usr/bin/env python3
"""Golden numbers for the optimizer side of training, made with Ultralytics' and torch's own code.

Writes Tests/Fixtures/optim/optim_golden.json. What is real Ultralytics / torch code and what is replicated:

  real      BaseTrainer.build_optimizer, BaseTrainer._setup_scheduler (the lr lambdas + torch LambdaLR),
            BaseTrainer._get_warmup_iterations, BaseTrainer.optimizer_step (clip_grad_norm_(10), step, zero_grad,
            ModelEMA.update), ModelEMA, torch.optim.{SGD, Adam, AdamW, RMSprop}, torch.nn.utils.clip_grad_norm_.
            These methods are called unbound on a small namespace object holding just the attributes they read
            (args, data, epochs, model, optimizer, scaler, device, ema).
  replicated the few lines of BaseTrainer._build_train_pipeline that compute accumulate / the scaled weight decay /
            the auto iteration count, and of BaseTrainer._do_train's batch loop: scheduler.step() at each epoch
            start, the warmup block (accumulate, each group's lr, momentum by np.interp), and the
            `ni - last_opt_step >= accumulate` cadence. Copied line for line from ultralytics 8.4.190.

The model is tiny (Ultralytics' own Conv = Conv2d + BatchNorm2d(eps 1e-3, momentum 0.03) + SiLU, a biased Conv2d
and a DFL whose conv the trainer freezes), so every tensor is stored whole. Gradients and the BatchNorm running
statistics the forward pass would leave are a deterministic formula (`fake_value` below, Python's math.sin, which
is glibc's, so Swift's Foundation.sin reproduces them bit for bit) instead of being stored. Each batch *adds* its
gradient, as loss.backward() does, so accumulation over batches is exercised; zero_grad clears them.

Sections:
  model       names, shapes, initial values of parameters (with kind and frozen flag) and float buffers
              (state-dict order); the param group build_optimizer put each parameter in.
  runs        per scenario: settings, per iteration ni the group lrs / momentum / accumulate in effect and whether
              the optimizer stepped; per step the total grad norm, the weights after it, the EMA of every float
              state-dict entry after it.
  auto        build_optimizer(name="auto") for several (nc, iterations): the optimizer, lr and momentum chosen.
  warmup      _get_warmup_iterations for (warmup_epochs, epochs, nb); warmup accumulate for (nw, acc0, ni).
  lambdas     lf(epoch) for linear and cosine, several (epochs, lrf).
  decay       accumulate and scaled weight decay for several batch sizes.
  clip        clip_grad_norm_(max_norm=10) on seeded gradients, above and below the threshold.
  musgd       MuSGD (ultralytics.optim.MuSGD, what optimizer=auto picks above 10000 iterations): its own tiny
              model (the head's conv named cv3, so build_optimizer's 3x lr for the Detect head's class branch
              applies to it), runs as above (auto → MuSGD with warmup bias lr 0, and MuSGD named with bias warmup
              from 0.1), and zeropower_via_newtonschulz5 (bf16 Newton–Schulz) on seeded matrices, input and output.

Usage: /work/main/.venv/bin/python scripts/reference/optim_golden.py   (ultralytics 8.4.190, torch, numpy).
Deterministic (torch.manual_seed), nothing is downloaded.
"""
from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import json  # noqa: E402
import math  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import ultralytics  # noqa: E402
from torch import nn  # noqa: E402
from ultralytics.engine.trainer import BaseTrainer  # noqa: E402
from ultralytics.nn.modules import DFL, Conv  # noqa: E402
from ultralytics.utils.torch_utils import ModelEMA  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "Tests/Fixtures/optim/optim_golden.json"


def f32list(t: torch.Tensor) -> list[float]:
    """float32 values, each written with the shortest decimal that reads back as the same float32."""
    return [float(str(x)) for x in t.detach().reshape(-1).to(torch.float32).numpy()]


def fake_value(scale: float, tensor_index: int, ni: int, j: int) -> float:
    """The seeded 'gradient' / 'running statistic' formula Swift repeats: a double, then rounded to float32."""
    return scale * math.sin(0.7 * j + 1.3 * tensor_index + 0.37 * ni + 0.5)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.cv = nn.Conv2d(4, 3, 1, bias=True)
        self.dfl = DFL(4)


class HeadCv3(nn.Module):
    """As Head, its conv named as a Detect head's class branch (build_optimizer boosts `model[-1].cv3`'s lr)."""

    def __init__(self):
        super().__init__()
        self.cv3 = nn.Conv2d(4, 3, 1, bias=True)
        self.dfl = DFL(4)


class TinyModel(nn.Module):
    """Three param groups: conv weights (decay), BatchNorm weights (no decay), biases incl. BN biases (no decay)."""

    def __init__(self, head=Head):
        super().__init__()
        self.model = nn.Sequential(Conv(2, 3, 3), Conv(3, 4, 1), head())


def make_model(head=Head) -> TinyModel:
    torch.manual_seed(0)
    model = TinyModel(head)
    with torch.no_grad():  # move BN away from (1, 0, 0, 1) so each entry is distinct
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    # BaseTrainer._setup_train freezes names containing ".dfl" (DFL itself already sets requires_grad False)
    for k, v in model.named_parameters():
        if ".dfl" in k:
            v.requires_grad = False
    return model


def parameter_kind(model: nn.Module, name: str) -> str:
    """The module kind the Swift side receives: what the integrator knows without parsing names."""
    module_name, _, param_name = name.rpartition(".")
    module = model.get_submodule(module_name)
    if param_name == "bias":
        return "bias"
    return "normalizationWeight" if isinstance(module, nn.BatchNorm2d) else "weight"


def trainer_namespace(**args) -> types.SimpleNamespace:
    defaults = dict(
        optimizer="SGD", lr0=0.01, lrf=0.01, momentum=0.937, weight_decay=0.0005, warmup_epochs=1.0,
        warmup_momentum=0.8, warmup_bias_lr=0.1, nbs=64, cos_lr=False, time=None,
    )
    defaults.update(args)
    return types.SimpleNamespace(args=types.SimpleNamespace(**defaults))


def run_scenario(name: str, *, batch: int, nb: int, epochs: int, dataset_size: int, nc: int, head=Head, **args) -> dict:
    model = make_model(head)
    t = trainer_namespace(**args)
    t.data = {"nc": nc}
    t.epochs = epochs
    t.model = model
    t.device = torch.device("cpu")
    t.scaler = torch.amp.GradScaler("cpu", enabled=False)
    requested = dict(optimizer=t.args.optimizer, lr0=t.args.lr0, momentum=t.args.momentum,
                     warmup_bias_lr=t.args.warmup_bias_lr)

    # BaseTrainer._build_train_pipeline (replicated)
    accumulate = max(round(t.args.nbs / batch), 1)
    weight_decay = t.args.weight_decay * batch * accumulate / t.args.nbs
    accumulate = min(accumulate, nb * epochs)
    iterations = math.ceil(dataset_size / max(batch, t.args.nbs)) * epochs
    t.optimizer = BaseTrainer.build_optimizer(
        t, model=model, name=t.args.optimizer, lr=t.args.lr0, momentum=t.args.momentum, decay=weight_decay,
        iterations=iterations,
    )
    BaseTrainer._setup_scheduler(t)
    t.ema = ModelEMA(model)  # BaseTrainer._setup_train
    t.scheduler.last_epoch = -1  # start_epoch - 1

    param_names = {id(p): n for n, p in model.named_parameters()}
    groups = {param_names[id(p)]: gi for gi, g in enumerate(t.optimizer.param_groups) for p in g["params"]}
    chosen = dict(
        optimizer=type(t.optimizer).__name__, lr0=t.args.lr0, warmup_bias_lr=t.args.warmup_bias_lr,
        initial_lr=[g["initial_lr"] for g in t.optimizer.param_groups],
        momentum=[g.get("momentum") for g in t.optimizer.param_groups],
        betas=[list(g["betas"]) if "betas" in g else None for g in t.optimizer.param_groups],
        eps=[g.get("eps") for g in t.optimizer.param_groups],
        nesterov=[g.get("nesterov") for g in t.optimizer.param_groups],
        weight_decay=[g["weight_decay"] for g in t.optimizer.param_groups],
    )

    params = list(model.named_parameters())
    floats = [(k, v) for k, v in model.state_dict().items() if v.dtype.is_floating_point]
    buffers = [(k, v) for k, v in model.named_buffers() if v.dtype.is_floating_point]
    trainable = [(i, p) for i, (_, p) in enumerate(params) if p.requires_grad]

    # BaseTrainer._do_train (replicated)
    nw = BaseTrainer._get_warmup_iterations(t, nb)
    last_opt_step = -1
    acc0 = accumulate
    t.accumulate = accumulate
    t.optimizer.zero_grad()
    iterations_log, steps = [], []
    for epoch in range(epochs):
        t.scheduler.step()
        for i in range(nb):
            ni = i + nb * epoch
            if nw and ni <= nw:
                xi = [0, nw]
                t.accumulate = max(1, int(np.interp(ni, xi, [1, acc0]).round()))
                for x in t.optimizer.param_groups:
                    x["lr"] = float(np.interp(ni, xi, [
                        t.args.warmup_bias_lr if x.get("param_group") == "bias" else 0.0,
                        x["initial_lr"] * t.lf(epoch),
                    ]))
                    if "momentum" in x:
                        x["momentum"] = float(np.interp(ni, xi, [t.args.warmup_momentum, t.args.momentum]))
            # "forward": the running statistics a BN forward would leave, then "backward": add this batch's grads
            with torch.no_grad():
                for bi, (_, b) in enumerate(buffers):
                    vals = [fake_value(0.3, bi, ni, j) for j in range(b.numel())]
                    b.copy_(torch.tensor(vals, dtype=torch.float64).to(torch.float32).view_as(b))
                    if "running_var" in buffers[bi][0]:
                        b.abs_().add_(0.5)
                scale = 0.5 if ni % 2 == 0 else 2.0
                for ti, p in trainable:
                    g = torch.tensor([fake_value(scale, ti, ni, j) for j in range(p.numel())], dtype=torch.float64)
                    g = g.to(torch.float32).view_as(p)
                    p.grad = g if p.grad is None else p.grad + g
            stepped = ni - last_opt_step >= t.accumulate
            iterations_log.append(dict(
                ni=ni, epoch=epoch, accumulate=t.accumulate, stepped=stepped,
                lr=[g["lr"] for g in t.optimizer.param_groups],
                momentum=[g.get("momentum") for g in t.optimizer.param_groups],
            ))
            if stepped:
                total_norm = float(torch.nn.utils.get_total_norm([p.grad for _, p in trainable]))
                BaseTrainer.optimizer_step(t)
                last_opt_step = ni
                assert all(p.grad is None for _, p in params)
                steps.append(dict(
                    ni=ni, total_norm=total_norm,
                    weights={k: f32list(p) for k, p in params},
                    ema={k: f32list(v) for k, v in t.ema.ema.state_dict().items() if v.dtype.is_floating_point},
                    ema_updates=t.ema.updates,
                ))
    assert len(floats) == len(params) + len(buffers)
    return dict(
        name=name, batch=batch, nb=nb, epochs=epochs, dataset_size=dataset_size, nc=nc, requested=requested,
        settings={k: getattr(t.args, k) for k in ("lrf", "cos_lr", "warmup_epochs", "warmup_momentum", "weight_decay",
                                                   "nbs")} | {"momentum_arg": t.args.momentum},
        scaled_weight_decay=weight_decay, iterations=iterations, warmup_iterations=nw, accumulate=acc0,
        groups=groups, chosen=chosen, iterations_log=iterations_log, steps=steps,
    )


def model_section(head=Head) -> dict:
    model = make_model(head)
    sd_float = [k for k, v in model.state_dict().items() if v.dtype.is_floating_point]
    return dict(
        parameters=[dict(name=k, shape=list(p.shape), kind=parameter_kind(model, k), frozen=not p.requires_grad,
                         values=f32list(p)) for k, p in model.named_parameters()],
        buffers=[dict(name=k, shape=list(b.shape), values=f32list(b)) for k, b in model.named_buffers()
                 if b.dtype.is_floating_point],
        float_state_dict_order=sd_float,
    )


def auto_section() -> list[dict]:
    rows = []
    model = make_model()
    for nc in (1, 2, 3, 7, 10, 20, 80, 91, 365, 1000):
        for iterations in (1, 300, 9999, 10000, 10001, 250000):
            t = trainer_namespace(optimizer="auto", lr0=0.01, warmup_bias_lr=0.1)
            t.data = {"nc": nc}
            opt = BaseTrainer.build_optimizer(t, model=model, name="auto", lr=0.01, momentum=0.937, decay=5e-4,
                                              iterations=iterations)
            g = opt.param_groups[0]
            rows.append(dict(nc=nc, iterations=iterations, optimizer=t.args.optimizer, lr0=t.args.lr0,
                             momentum=g["momentum"] if "momentum" in g else g["betas"][0],
                             warmup_bias_lr=t.args.warmup_bias_lr))
    # the dataset-size -> iterations rule of _build_train_pipeline, with no class-count key in data (nc 10)
    t = trainer_namespace(optimizer="auto")
    t.data = {}
    BaseTrainer.build_optimizer(t, model=model, name="auto", iterations=5)
    rows.append(dict(nc=None, iterations=5, optimizer=t.args.optimizer, lr0=t.args.lr0, momentum=0.9,
                     warmup_bias_lr=t.args.warmup_bias_lr))
    return rows


def warmup_section() -> dict:
    counts = []
    for warmup_epochs in (0.0, 0.5, 1.0, 2.5, 3.0, 3.7):
        for epochs in (1, 2, 3, 100):
            for nb in (1, 5, 7, 100, 1563):
                t = trainer_namespace(warmup_epochs=warmup_epochs)
                t.epochs = epochs
                counts.append(dict(warmup_epochs=warmup_epochs, epochs=epochs, nb=nb,
                                   nw=BaseTrainer._get_warmup_iterations(t, nb)))
    accumulate = []
    for nw, acc0 in ((6, 4), (4, 2), (10, 3), (3, 2), (8, 16), (1, 4)):
        for ni in range(nw + 1):
            accumulate.append(dict(nw=nw, acc0=acc0, ni=ni,
                                   accumulate=max(1, int(np.interp(ni, [0, nw], [1, acc0]).round()))))
    interp = []
    for nw in (3, 7, 300, 4689):
        for ni in sorted({0, 1, 2, nw // 3, nw // 2, nw - 1, nw}):
            for y0, y1 in ((0.1, 0.00999), (0.0, 0.01 * 0.67), (0.8, 0.937), (0.0, 0.001667)):
                interp.append(dict(nw=nw, ni=ni, y0=y0, y1=y1, y=float(np.interp(ni, [0, nw], [y0, y1]))))
    return dict(counts=counts, accumulate=accumulate, interp=interp)


def lambdas_section() -> list[dict]:
    rows = []
    for cos_lr in (False, True):
        for epochs, lrf in ((3, 0.01), (100, 0.01), (7, 0.2), (300, 0.001)):
            t = trainer_namespace(cos_lr=cos_lr, lrf=lrf)
            t.epochs = epochs
            t.optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
            BaseTrainer._setup_scheduler(t)
            rows.append(dict(cos_lr=cos_lr, epochs=epochs, lrf=lrf,
                             factors=[t.lf(e) for e in range(epochs + 2)]))
    return rows


def decay_section() -> list[dict]:
    rows = []
    for batch in (1, 2, 8, 16, 24, 32, 40, 48, 64, 100, 128, 256):
        accumulate = max(round(64 / batch), 1)
        rows.append(dict(batch=batch, nbs=64, weight_decay=0.0005, accumulate=accumulate,
                         scaled=0.0005 * batch * accumulate / 64))
    return rows


def clip_section() -> list[dict]:
    rows = []
    torch.manual_seed(1)
    for scale in (0.05, 1.0, 30.0):
        grads = [torch.randn(s) * scale for s in ((4, 3, 3, 3), (4,), (6, 4, 1, 1), (17,))]
        ps = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_(ps, max_norm=10.0)
        rows.append(dict(max_norm=10.0, grads=[f32list(g) for g in grads], total_norm=float(norm),
                         clipped=[f32list(p.grad) for p in ps]))
    return rows


def musgd_section() -> dict:
    from ultralytics.optim.muon import zeropower_via_newtonschulz5
    torch.manual_seed(2)
    newton_schulz = []
    for rows, cols in ((3, 18), (4, 3), (6, 6), (16, 40)):
        g = torch.randn(rows, cols) * 0.3
        newton_schulz.append(dict(rows=rows, cols=cols, input=f32list(g), output=f32list(zeropower_via_newtonschulz5(g).float())))
    runs = [
        run_scenario("musgd_auto", optimizer="auto", lr0=0.01, momentum=0.937, batch=32, nb=3, epochs=3,
                     dataset_size=224_000, nc=2, head=HeadCv3),
        run_scenario("musgd_bias_warmup", optimizer="MuSGD", lr0=0.01, momentum=0.9, batch=16, nb=4, epochs=3,
                     dataset_size=64, nc=2, head=HeadCv3),
    ]
    return dict(model=model_section(HeadCv3), runs=runs, newton_schulz=newton_schulz)


def main() -> None:
    runs = [
        run_scenario("sgd", optimizer="SGD", lr0=0.01, momentum=0.937, batch=32, nb=3, epochs=3, dataset_size=96,
                     nc=2),
        run_scenario("adamw_auto_cos", optimizer="auto", lr0=0.01, momentum=0.937, cos_lr=True, batch=24, nb=3,
                     epochs=3, dataset_size=72, nc=2),
        run_scenario("adam", optimizer="Adam", lr0=0.001, momentum=0.937, batch=16, nb=3, epochs=3,
                     dataset_size=48, nc=2),
        run_scenario("rmsprop", optimizer="RMSProp", lr0=0.001, momentum=0.937, batch=64, nb=3, epochs=3,
                     dataset_size=192, nc=2),
        run_scenario("adamw_explicit", optimizer="AdamW", lr0=0.002, momentum=0.9, batch=32, nb=4, epochs=3,
                     dataset_size=128, nc=5, warmup_epochs=0.0),
    ]
    golden = dict(
        generator="scripts/reference/optim_golden.py", ultralytics=ultralytics.__version__,
        torch=torch.__version__, numpy=np.__version__,
        model=model_section(), runs=runs, auto=auto_section(), warmup=warmup_section(), lambdas=lambdas_section(),
        decay=decay_section(), clip=clip_section(), musgd=musgd_section(),
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size} bytes)")
    for r in runs:
        print(r["name"], r["chosen"]["optimizer"], "lr0", r["chosen"]["lr0"], "nw", r["warmup_iterations"],
              "acc", r["accumulate"], "steps at", [s["ni"] for s in r["steps"]],
              "norms", [round(s["total_norm"], 3) for s in r["steps"]])
    for r in golden["musgd"]["runs"]:
        print(r["name"], r["chosen"]["optimizer"], "lr0", r["chosen"]["lr0"], "groups", len(r["chosen"]["initial_lr"]),
              "initial_lr", r["chosen"]["initial_lr"], "steps at", [s["ni"] for s in r["steps"]])


if __name__ == "__main__":
    main()
