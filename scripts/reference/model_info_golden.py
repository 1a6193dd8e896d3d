#!/usr/bin/env python3
"""Writes Tests/Fixtures/ultralytics/model_info.json: what Ultralytics reports for the test checkpoints, for
ModelInfoTests / ExportTests.

Per checkpoint (the tiny v8/11/26 fixtures, and Models/fall-yolov8s.pt when fetched — its figures only, no names):
  parameters        ultralytics.utils.torch_utils.get_num_params(model)  (unfused, buffers excluded)
  gflops            ultralytics.utils.torch_utils.get_flops(model, 640)  (thop, unfused)
  layer_parameters  per top-level layer, sum of p.numel() (as parse_model prints)
  state_dict        [name, dtype, shape] of model.state_dict() in order (tiny fixtures only)

Usage: .venv/bin/python scripts/reference/model_info_golden.py
"""
import json
import os

import torch
from ultralytics.utils.torch_utils import get_flops, get_num_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = ["yolov8-tiny.pt", "yolo11-tiny.pt", "yolo26-tiny.pt", "yolo26-tiny-soft.pt"]


def describe(path, with_state_dict):
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = (ckpt.get("ema") or ckpt["model"]).float().eval()
    out = {
        "parameters": get_num_params(model),
        "gflops": get_flops(model, 640),
        "layer_parameters": [sum(p.numel() for p in m.parameters()) for m in model.model],
    }
    if with_state_dict:
        out["state_dict"] = [[k, str(v.dtype).replace("torch.", ""), list(v.shape)] for k, v in
                             (ckpt.get("ema") or ckpt["model"]).state_dict().items()]
    return out


result = {}
for name in FIXTURES:
    result[name] = describe(os.path.join(ROOT, "Tests/Fixtures/ultralytics", name), True)
fall = os.path.join(ROOT, "Models/fall-yolov8s.pt")
if os.path.exists(fall):
    result["fall-yolov8s.pt"] = describe(fall, False)
with open(os.path.join(ROOT, "Tests/Fixtures/ultralytics/model_info.json"), "w") as f:
    json.dump(result, f, separators=(",", ":"))
    f.write("\n")
print({k: (v["parameters"], v["gflops"]) for k, v in result.items()})
