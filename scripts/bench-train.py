#!/usr/bin/env python3
"""Training-step time of SwiftYOLO next to PyTorch + Ultralytics, in one run, alternating, same model / batch /
image size / threads.

One training step = forward in training mode + Ultralytics' v8DetectionLoss + backward (no optimizer step), on a
[batch, 3, imgsz, imgsz] batch of uniform random pixels with fixed synthetic targets: image i gets the boxes of
`targets(i)` below, the same rule `yolo bench --train` uses (TrainBenchmark.swift), so both run the same
assignment work.

  ours:    `yolo bench --train --format json` (its own process; median ms per batch of --steps timed steps)
  PyTorch: the checkpoint's model in train mode (BatchNorm batch statistics, every parameter but the DFL's
           requiring grad, as BaseTrainer sets them), model.loss(...) then loss.sum().backward(),
           torch.set_num_threads(--threads); median of --steps timed steps after --warmup.

Each of --rounds rounds times ours, then PyTorch, back to back; the ratio (ours / PyTorch, below 1: SwiftYOLO
is faster) is taken per round and its median printed. The machine is what it is: say how loaded it was when you
publish figures. On a shared machine whose other core is busy, PyTorch's OpenMP threads (--threads 2 on 2 cores)
slow down by 5-30x (measured 2.2-9.7 s per step against 0.3 s idle); --threads 1 still compares like with like.

Usage (from the repository root, after `swift build -c release -Xswiftc -target-cpu -Xswiftc native`):
  .venv/bin/python scripts/bench-train.py [--model Models/fall-yolov8s.pt] [--batch 2] [--imgsz 256] [--threads 2]
      [--backend swift] [--steps 3] [--warmup 1] [--rounds 3] [--yolo .build/release/yolo] [--json out.json]
"""
from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def targets(image: int, nc: int) -> list[list[float]]:
    """[class, x, y, w, h] normalized: even images three boxes (one small), odd images one large box."""
    if image % 2 == 0:
        return [[0, 0.30, 0.40, 0.25, 0.50], [1 % nc, 0.70, 0.55, 0.40, 0.30], [2 % nc, 0.52, 0.22, 0.12, 0.18]]
    return [[1 % nc, 0.45, 0.60, 0.60, 0.55]]


def ours(args) -> dict:
    cmd = [str(args.yolo), "bench", "--train", "--model", args.model, "--batch", str(args.batch), "--imgsz", str(args.imgsz),
           "--threads", str(args.threads), "--backend", args.backend, "--rounds", str(args.steps),
           "--warmup", str(args.warmup), "--format", "json"]
    print("  $", " ".join(cmd), flush=True)
    time.sleep(1)  # let PyTorch's OpenMP threads go idle first
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"yolo bench --train failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)


class PyTorchStep:
    def __init__(self, model_path: str, batch: int, imgsz: int, threads: int):
        import torch
        from ultralytics.cfg import get_cfg
        torch.set_num_threads(threads)
        ckpt = torch.load(model_path, map_location="cpu", weights_only=False)
        model = (ckpt.get("model") or ckpt.get("ema")).float()
        model.args = get_cfg()  # default.yaml: box 7.5, cls 0.5, dfl 1.5
        for name, p in model.named_parameters():
            p.requires_grad = ".dfl" not in name  # BaseTrainer always freezes the DFL conv
        model.train()
        nc = model.model[-1].nc
        idx, cls, boxes = [], [], []
        for b in range(batch):
            for r in targets(b, nc):
                idx.append(b); cls.append([r[0]]); boxes.append(r[1:])
        img = torch.rand(batch, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(5))
        self.batch = {"img": img, "batch_idx": torch.tensor(idx, dtype=torch.float32),
                      "cls": torch.tensor(cls, dtype=torch.float32), "bboxes": torch.tensor(boxes, dtype=torch.float32)}
        self.model, self.torch = model, torch

    def __call__(self):
        self.model.zero_grad(set_to_none=True)
        preds = self.model(self.batch["img"])
        loss, _ = self.model.loss(self.batch, preds)
        loss.sum().backward()

    def timed(self, steps: int, warmup: int) -> dict:
        for _ in range(warmup):
            self()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            self()
            times.append((time.perf_counter() - t0) * 1e3)
        return {"min": min(times), "median": statistics.median(times), "max": max(times)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="Models/fall-yolov8s.pt")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--imgsz", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", default="swift", choices=["blas", "swift"])
    p.add_argument("--steps", type=int, default=3, help="timed training steps per round and side")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--yolo", type=Path, default=ROOT / ".build/release/yolo")
    p.add_argument("--json", type=Path, help="also write every round's figures here")
    args = p.parse_args()
    if not args.yolo.exists():
        sys.exit(f"{args.yolo} not found: build first (swift build -c release -Xswiftc -target-cpu -Xswiftc native)")
    import torch
    import ultralytics
    peer = PyTorchStep(args.model, args.batch, args.imgsz, args.threads)
    print(f"forward + loss + backward, {args.model}, batch {args.batch}×3×{args.imgsz}×{args.imgsz}, {args.threads} threads; "
          f"PyTorch {torch.__version__} + Ultralytics {ultralytics.__version__}, ours: --backend {args.backend}", flush=True)
    rounds = []
    for r in range(args.rounds):
        mine = ours(args)
        theirs = peer.timed(args.steps, args.warmup)
        ratio = mine["ms_per_batch"]["median"] / theirs["median"]
        rounds.append({"ours": mine, "pytorch": theirs, "ratio": ratio})
        print(f"round {r + 1}: ours {mine['ms_per_batch']['median']:.0f} ms/batch "
              f"(forward {mine['forward_ms']['median']:.0f}, loss {mine['loss_ms']['median']:.0f}, backward {mine['backward_ms']['median']:.0f}), "
              f"PyTorch {theirs['median']:.0f} ms/batch, ratio ours/PyTorch {ratio:.2f}", flush=True)
    ratios = [r["ratio"] for r in rounds]
    last = rounds[-1]["ours"]
    print(f"median ratio ours/PyTorch: {statistics.median(ratios):.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)}); "
          f"ours keeps {last['kept_activation_bytes'] / 2**20:.1f} MiB of activations for the backward pass")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
