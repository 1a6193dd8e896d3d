#!/usr/bin/env python3
"""Checks `yolo export` of an Ultralytics checkpoint against PyTorch and Ultralytics.

Exports CHECKPOINT with the yolo binary (safetensors fp32/fp16/bf16 and a state-dict .pt) into a temporary
folder, then checks, each failure printed (exit status 1 if any):
  * safetensors.torch.load_file and torch.load(weights_only=True) read the files;
  * the names are exactly (for .pt in order) the checkpoint model's state_dict() keys; every tensor equals
    state_dict()[k].float() (fp32 files, bit for bit), .half() (fp16) or .bfloat16() (bf16); integer tensors equal;
  * __metadata__: source_sha256 equals hashlib's, names and stride equal the model's;
  * an Ultralytics YOLO(CHECKPOINT) whose model got load_state_dict(exported fp32 safetensors / .pt, strict=True)
    predicts the same boxes, classes and confidences (to 1e-5) as the untouched one on every photo in PHOTOS.

Usage: .venv/bin/python scripts/reference/check_export.py [YOLO_BINARY] [CHECKPOINT] [PHOTOS_DIR]
  (defaults: .build/release/yolo, Models/fall-yolov8s.pt, Models/samples)
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from safetensors import safe_open
from ultralytics import YOLO

yolo = sys.argv[1] if len(sys.argv) > 1 else ".build/release/yolo"
ckpt_path = sys.argv[2] if len(sys.argv) > 2 else "Models/fall-yolov8s.pt"
photos = sorted(glob.glob(os.path.join(sys.argv[3] if len(sys.argv) > 3 else "Models/samples", "*.jpg")))
failures = []


def check(ok, message):
    print(("ok   " if ok else "FAIL ") + message)
    if not ok:
        failures.append(message)


ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
model = ckpt.get("ema") or ckpt["model"]
sd = model.state_dict()
tmp = tempfile.mkdtemp()
files = {}
for fmt, dtype in [("safetensors", "fp32"), ("safetensors", "fp16"), ("safetensors", "bf16"), ("pt", "fp32")]:
    out = os.path.join(tmp, f"export-{dtype}.{fmt}")
    r = subprocess.run([yolo, "export", "--model", ckpt_path, "--format", fmt, "--dtype", dtype, "--output", out],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"yolo export --format {fmt} --dtype {dtype}: {r.stdout.strip().splitlines()[0] if r.stdout else r.stderr.strip()}")
    files[(fmt, dtype)] = out

convert = {"fp32": lambda t: t.float(), "fp16": lambda t: t.half(), "bf16": lambda t: t.bfloat16()}
for (fmt, dtype), path in files.items():
    loaded = load_file(path) if fmt == "safetensors" else torch.load(path, weights_only=True)
    if fmt == "pt":  # a state dict keeps its order
        check(list(loaded.keys()) == list(sd.keys()), f"{fmt} {dtype}: {len(loaded)} names, in state_dict() order ({len(sd)})")
    else:  # safetensors has no order (the header is a JSON object): the same set of names
        check(sorted(loaded.keys()) == sorted(sd.keys()), f"{fmt} {dtype}: {len(loaded)} names, exactly state_dict()'s ({len(sd)})")
    bad = []
    for k, v in sd.items():
        got = loaded.get(k)
        want = convert[dtype](v) if v.is_floating_point() else v
        if got is None or got.dtype != want.dtype or got.shape != want.shape or not torch.equal(got.view(-1).view(torch.uint8) if got.is_floating_point() else got, want.contiguous().view(-1).view(torch.uint8) if want.is_floating_point() else want):
            bad.append(k)
    check(not bad, f"{fmt} {dtype}: every tensor bit-equal to state_dict() {'.float()' if dtype == 'fp32' else ('.half()' if dtype == 'fp16' else '.bfloat16()')} ({len(bad)} differ: {bad[:3]})")
    if fmt == "safetensors":
        with safe_open(path, "pt") as f:
            meta = f.metadata()
        sha = hashlib.sha256(open(ckpt_path, "rb").read()).hexdigest()
        check(meta.get("source_sha256") == sha, f"{dtype}: source_sha256 {meta.get('source_sha256', '')[:16]}… equals hashlib's")
        names = [model.names[i] for i in range(len(model.names))]
        check(json.loads(meta["names"]) == names and json.loads(meta["stride"]) == [int(s) for s in model.stride.tolist()],
              f"{dtype}: names {json.loads(meta['names'])} and stride {meta['stride']} match")


def predictions(y):
    out = []
    for p in photos:
        b = y.predict(p, verbose=False)[0].boxes
        out.append((b.xyxy.tolist(), b.cls.tolist(), b.conf.tolist()))
    return out


reference = predictions(YOLO(ckpt_path))
for key in [("safetensors", "fp32"), ("pt", "fp32")]:
    y = YOLO(ckpt_path)
    state = load_file(files[key]) if key[0] == "safetensors" else torch.load(files[key], weights_only=True)
    y.model.load_state_dict(state, strict=True)
    got = predictions(y)
    same = all(len(a[0]) == len(b[0]) and a[1] == b[1] and all(abs(x - z) < 1e-5 for ra, rb in zip(a[0], b[0]) for x, z in zip(ra, rb))
               and all(abs(x - z) < 1e-5 for x, z in zip(a[2], b[2])) for a, b in zip(reference, got))
    check(same, f"Ultralytics with the {key[0]} state dict loaded predicts the same on {len(photos)} photos ({sum(len(r[0]) for r in got)} boxes)")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
