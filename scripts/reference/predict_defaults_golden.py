#!/usr/bin/env python3
"""What `YOLO(checkpoint).predict(photo)` gives with no arguments, for the tiny v8 / 11 / 26 test checkpoints.

Writes Tests/Fixtures/ultralytics/predict_defaults.json: per checkpoint and sample photo, the input size predict()
used (the checkpoint's training imgsz, 320 for these) and every detection (class, confidence, box x1 y1 x2 y2 in
original pixels). `yolo detect` with no flags must give the same (PredictDefaultsTests): the checkpoint's imgsz
as the default size, and for YOLO26 the one-to-many head with NMS (Ultralytics' default `nms=None`).

YOLO26: yolo26-tiny.pt's random class scores saturate at exactly 1.0 on these photos, and PyTorch orders equal
scores arbitrarily before NMS, so which of the tied boxes survive is not reproducible. The script therefore also
writes yolo26-tiny-soft.pt (generated fixture): the same checkpoint with the final convs of the one-to-many class
branch scaled by 0.1 (scores 0.45-0.9, all distinct), and uses that one.

Usage:  .venv/bin/python scripts/reference/predict_defaults_golden.py      (after scripts/fetch-models.sh)
"""
import json
import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import torch  # noqa: E402
import ultralytics  # noqa: E402
from ultralytics import YOLO  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "ultralytics")
SAMPLES = os.path.join(os.environ.get("YOLO_MODELS_DIR", os.path.join(ROOT, "Models")), "samples")


def make_soft_yolo26() -> None:
    """yolo26-tiny.pt with the one-to-many class branch's final convs scaled by 0.1 (no saturated, tied scores)."""
    ckpt = torch.load(os.path.join(FIXTURES, "yolo26-tiny.pt"), weights_only=False)
    for seq in ckpt["model"].model[-1].cv3:
        seq[-1].weight.data *= 0.1
        seq[-1].bias.data *= 0.1
    ckpt["ema"] = None
    torch.save(ckpt, os.path.join(FIXTURES, "yolo26-tiny-soft.pt"))


def main() -> None:
    make_soft_yolo26()
    result = {"ultralytics": ultralytics.__version__, "checkpoints": {}}
    for name in ("yolov8-tiny", "yolo11-tiny", "yolo26-tiny-soft"):
        model = YOLO(os.path.join(FIXTURES, f"{name}.pt"))
        photos = {}
        for photo in ("bus.jpg", "zidane.jpg"):
            r = model.predict(os.path.join(SAMPLES, photo), verbose=False)[0]  # no arguments: the defaults
            boxes = r.boxes
            photos[photo] = {
                "imgsz": model.overrides.get("imgsz"),
                "detections": [
                    {"class": int(c), "confidence": round(float(s), 6), "box": [round(float(v), 3) for v in xyxy]}
                    for c, s, xyxy in zip(boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist())
                ],
            }
            print(f"{name} {photo}: {len(boxes)} detections at imgsz {model.overrides.get('imgsz')}")
        result["checkpoints"][name] = photos
    with open(os.path.join(FIXTURES, "predict_defaults.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
