#!/usr/bin/env python3
"""Goldens for the training graph (Sources/YOLOKit/Training/TrainingGraph*.swift): a whole Ultralytics detection
model in training mode, forward → v8DetectionLoss → backward, then optimizer steps, all with Ultralytics' and
torch's own code on the CPU in float32.

Writes Tests/Fixtures/train/:
  batch_input.f32     the fixed batch, [2, 3, 64, 96] float32 little-endian (seeded torch.rand: 0…1 like a
                      letterboxed image; augmentation does not exist here)
  <model>.json        per checkpoint: targets, loss components, the scalar backpropagated (trainer's loss.sum()),
                      per parameter its kind, frozen flag, gradient norm and sum and seeded sampled entries, per
                      float buffer the value after the forward (norm, sum, samples); for the tiny checkpoints also a
                      freeze=4 run (the first 4 modules frozen: no gradients, their BatchNorms in eval mode as
                      BaseTrainer._model_train sets them), a freeze=[1, 4] run (gradients pass through frozen,
                      eval-mode modules to the trainable ones before them) and the optimizer runs (SGD and AdamW, 3 iterations with
                      warmup active, per tensor ‖w₃ − w₀‖, Σ(w₃ − w₀) and samples of w₃ and of the EMA).
  <model>_grad.f32    the tiny checkpoints' full gradients, every parameter in named_parameters order
                      (frozen ones skipped), float32.
Real Ultralytics code: DetectionModel forward (train mode), model.loss (v8DetectionLoss), BaseTrainer.build_optimizer,
BaseTrainer._setup_scheduler, BaseTrainer.optimizer_step (clip 10, step, zero_grad, ModelEMA.update), ModelEMA.
Replicated from BaseTrainer (8.4.190): the freeze rule (".dfl" and "model.{i}." names → requires_grad False), the
warmup block of _do_train (np.interp of lr / momentum), the accumulate/weight-decay lines of _build_train_pipeline.
Timing: forward+backward of the fall checkpoint on a [2, 3, 256, 256] batch, torch.set_num_threads(2), 5 runs after
one warm-up (min and median; the machine is shared, so the min is the figure).

Usage: /work/main/.venv/bin/python scripts/reference/train_golden.py
"""
from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from ultralytics.cfg import get_cfg  # noqa: E402
from ultralytics.engine.trainer import BaseTrainer  # noqa: E402
from ultralytics.utils.torch_utils import ModelEMA  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "Tests/Fixtures/train"
BATCH, HEIGHT, WIDTH = 2, 64, 96
SAMPLES_PER_TENSOR = 8
FREEZE = 4
# freeze as a list: frozen modules in the middle, so gradients flow through eval-mode BatchNorms.
FREEZE_LIST = [1, 4]
# The optimizer runs use lr0 = warmup_bias_lr = 1e-3: with the defaults (0.01 / 0.1) the tiny random checkpoints'
# huge losses make three steps chaotic in PyTorch itself (a 1e-6 change of the input moves the third gradient norm by
# 2e-3), so no implementation could be compared at 1e-4.
LR0, WARMUP_BIAS_LR = 1e-3, 1e-3

torch.set_num_threads(2)


def load_model(path: Path) -> nn.Module:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = (ckpt.get("model") or ckpt.get("ema")).float()
    model.args = get_cfg()  # default.yaml: box 7.5, cls 0.5, dfl 1.5 (what v8DetectionLoss reads as hyp)
    return model


def freeze(model: nn.Module, count) -> list[str]:
    """BaseTrainer._setup_train's freeze rule (an int N: the first N modules; a list: those modules) and
    _model_train's BatchNorm eval (replicated)."""
    names = [f"model.{x}." for x in (count if isinstance(count, list) else range(count))] + [".dfl"]
    for k, v in model.named_parameters():
        v.requires_grad = not any(x in k for x in names)
    model.train()
    for n, m in model.named_modules():
        if any(x in n for x in names) and isinstance(m, nn.BatchNorm2d):
            m.eval()
    return names


def parameter_kind(model: nn.Module, name: str) -> str:
    module_name, _, param_name = name.rpartition(".")
    if param_name == "bias":
        return "bias"
    return "normalizationWeight" if isinstance(model.get_submodule(module_name), nn.BatchNorm2d) else "weight"


def targets_for(nc: int) -> list[list[list[float]]]:
    """Per image [class, x, y, w, h] normalized; one image crowded, one with a single box."""
    return [
        [[0, 0.30, 0.40, 0.25, 0.50], [1 % nc, 0.70, 0.55, 0.40, 0.30], [2 % nc, 0.52, 0.22, 0.12, 0.18]],
        [[1 % nc, 0.45, 0.60, 0.60, 0.55]],
    ]


def loss_batch(img: torch.Tensor, targets: list) -> dict:
    idx, cls, boxes = [], [], []
    for b, rows in enumerate(targets):
        for r in rows:
            idx.append(b); cls.append([r[0]]); boxes.append(r[1:])
    return {"img": img, "batch_idx": torch.tensor(idx, dtype=torch.float32), "cls": torch.tensor(cls, dtype=torch.float32),
            "bboxes": torch.tensor(boxes, dtype=torch.float32)}


def samples(t: torch.Tensor, rng: np.random.RandomState, count: int = SAMPLES_PER_TENSOR) -> list:
    flat = t.detach().reshape(-1)
    picks = sorted(set(int(i) for i in rng.randint(0, flat.numel(), size=min(count, flat.numel()))))
    return [[i, float(flat[i])] for i in picks]


def summary(t: torch.Tensor, rng: np.random.RandomState) -> dict:
    t = t.detach().double()
    return {"norm": float(t.norm()), "sum": float(t.sum()), "samples": samples(t.float(), rng)}


def forward_backward(model: nn.Module, img: torch.Tensor, targets: list):
    preds = model(img)
    loss, items = model.loss(loss_batch(img, targets), preds)
    total = loss.sum()  # BaseTrainer: self.loss = loss.sum()
    total.backward()
    return total, items


def gradient_case(path: Path, img: torch.Tensor, freeze_count, full: bool, seed: int) -> tuple[dict, list]:
    model = load_model(path)
    freeze(model, freeze_count)
    nc = model.model[-1].nc
    targets = targets_for(nc)
    total, items = forward_backward(model, img, targets)
    rng = np.random.RandomState(seed)
    params, flat = [], []
    for k, p in model.named_parameters():
        entry = {"name": k, "shape": list(p.shape), "kind": parameter_kind(model, k), "frozen": not p.requires_grad}
        if p.requires_grad:
            entry["grad"] = summary(p.grad, rng)
            if full:
                flat.append(p.grad.detach().reshape(-1).numpy().astype("<f4"))
        params.append(entry)
    buffers = [{"name": k, "value": summary(v, rng)} for k, v in model.named_buffers() if v.dtype.is_floating_point]
    layers = freeze_count if isinstance(freeze_count, list) else list(range(freeze_count))
    case = {"frozen_layers": layers, "targets": targets, "loss": {k: float(v) for k, v in items.items()},
            "backpropagated": float(total.detach()), "parameters": params, "buffers": buffers}
    return case, flat


def optimizer_case(path: Path, img: torch.Tensor, optimizer: str, seed: int, lr0: float = LR0, bias_lr: float = WARMUP_BIAS_LR) -> dict:
    """Three iterations as BaseTrainer._do_train runs them, nbs = batch so every iteration steps, warmup over 30."""
    model = load_model(path)
    freeze(model, 0)
    nc = model.model[-1].nc
    targets = targets_for(nc)
    epochs, nb = 10, 10
    t = types.SimpleNamespace(args=types.SimpleNamespace(
        optimizer=optimizer, lr0=lr0, lrf=0.01, momentum=0.937, weight_decay=0.0005, warmup_epochs=3.0,
        warmup_momentum=0.8, warmup_bias_lr=bias_lr, nbs=BATCH, cos_lr=False, time=None))
    t.data, t.epochs, t.model, t.device = {"nc": nc}, epochs, model, torch.device("cpu")
    t.scaler = torch.amp.GradScaler("cpu", enabled=False)
    accumulate = max(round(t.args.nbs / BATCH), 1)
    weight_decay = t.args.weight_decay * BATCH * accumulate / t.args.nbs
    t.optimizer = BaseTrainer.build_optimizer(t, model=model, name=optimizer, lr=t.args.lr0, momentum=t.args.momentum,
                                              decay=weight_decay, iterations=100)
    BaseTrainer._setup_scheduler(t)
    t.ema = ModelEMA(model)
    t.scheduler.last_epoch = -1
    nw = BaseTrainer._get_warmup_iterations(t, nb)
    initial = {k: v.detach().clone() for k, v in model.named_parameters()}
    t.optimizer.zero_grad()
    t.scheduler.step()  # epoch 0's lr = initial_lr · lf(0), as _do_train's epoch start
    norms = []
    for ni in range(3):
        xi = [0, nw]
        for x in t.optimizer.param_groups:
            x["lr"] = float(np.interp(ni, xi, [t.args.warmup_bias_lr if x.get("param_group") == "bias" else 0.0,
                                              x["initial_lr"] * t.lf(0)]))
            if "momentum" in x:
                x["momentum"] = float(np.interp(ni, xi, [t.args.warmup_momentum, t.args.momentum]))
        forward_backward(model, img, targets)
        norms.append(float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])))
        BaseTrainer.optimizer_step(t)
    rng = np.random.RandomState(seed)
    ema = t.ema.ema.state_dict()
    weights = []
    for k, p in model.named_parameters():
        delta = (p.detach().double() - initial[k].double())
        weights.append({"name": k, "delta_norm": float(delta.norm()), "delta_sum": float(delta.sum()),
                        "samples": samples(p, rng), "ema_samples": samples(ema[k], rng),
                        "ema_delta_norm": float((ema[k].double() - initial[k].double()).norm())})
    buffers = [{"name": k, "value": summary(v, rng), "ema": summary(ema[k], rng)}
               for k, v in model.named_buffers() if v.dtype.is_floating_point]
    return {"optimizer": optimizer, "epochs": epochs, "batches_per_epoch": nb, "nbs": BATCH, "lr0": lr0, "warmup_bias_lr": bias_lr, "warmup_iterations": nw,
            "grad_norms": norms, "ema_updates": t.ema.updates, "weights": weights, "buffers": buffers}


def timing(path: Path) -> dict:
    model = load_model(path)
    freeze(model, 0)
    g = torch.Generator().manual_seed(5)
    img = torch.rand(2, 3, 256, 256, generator=g)
    targets = targets_for(model.model[-1].nc)
    times = []
    for _ in range(6):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        forward_backward(model, img, targets)
        times.append(time.perf_counter() - start)
    return {"batch": [2, 3, 256, 256], "threads": torch.get_num_threads(), "seconds": times[1:],
            "min_seconds": min(times[1:]), "median_seconds": float(np.median(times[1:]))}


def compact(value):
    """Floats with 9 significant digits (a float32 round-trips; doubles keep 1e-9 relative), recursively."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    return value


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(20261201)
    img = torch.rand(BATCH, 3, HEIGHT, WIDTH, generator=g)
    img.numpy().astype("<f4").tofile(OUT / "batch_input.f32")
    fixtures = REPO / "Tests/Fixtures/ultralytics"
    fall_timing = timing(REPO / "Models/fall-yolov8s.pt")  # first, before the process has done anything heavy
    for name, path, tiny in [("yolov8-tiny", fixtures / "yolov8-tiny.pt", True), ("yolo11-tiny", fixtures / "yolo11-tiny.pt", True),
                             ("fall-yolov8s", REPO / "Models/fall-yolov8s.pt", False)]:
        case, flat = gradient_case(path, img, 0, tiny, seed=1)
        out = {"generator": "scripts/reference/train_golden.py", "checkpoint": str(path.relative_to(REPO)),
               "input": {"file": "batch_input.f32", "shape": [BATCH, 3, HEIGHT, WIDTH]}, "train": case}
        if tiny:
            np.concatenate(flat).astype("<f4").tofile(OUT / f"{name}_grad.f32")
            out["frozen"] = gradient_case(path, img, FREEZE, False, seed=2)[0]
            out["frozen_list"] = gradient_case(path, img, FREEZE_LIST, False, seed=4)[0]
            out["optimizers"] = [optimizer_case(path, img, opt, seed=3) for opt in ("SGD", "AdamW")]
        else:
            out["timing"] = fall_timing
        (OUT / f"{name}.json").write_text(json.dumps(compact(out), separators=(",", ":")))
        print(name, case["loss"], "params", len(case["parameters"]), out.get("timing", {}).get("median_seconds"))


if __name__ == "__main__":
    main()
