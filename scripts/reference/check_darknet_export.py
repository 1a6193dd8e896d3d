#!/usr/bin/env python3
"""OpenCV DNN (the reference Darknet importer) on Darknet files written by `yolo export`.

Exports Models/yolov3-tiny.cfg to safetensors, exports that file back to Darknet cfg + .weights (the whole
Darknet → safetensors → Darknet path), and runs both the original and the exported files through
cv2.dnn.readNetFromDarknet on Models/samples/bus.jpg: the two yolo outputs must be identical.

Usage:  .venv/bin/python scripts/reference/check_darknet_export.py [--yolo .build/release/yolo]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def outputs(cfg: str, weights: str, image: np.ndarray) -> list:
    net = cv2.dnn.readNetFromDarknet(cfg, weights)
    net.setInput(cv2.dnn.blobFromImage(image, 1 / 255, (416, 416), swapRB=True, crop=False))
    return net.forward(net.getUnconnectedOutLayersNames())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--yolo", default=os.path.join(ROOT, ".build", "release", "yolo"))
    args = parser.parse_args()
    models = os.path.join(ROOT, "Models")
    with tempfile.TemporaryDirectory() as tmp:
        st, cfg = os.path.join(tmp, "tiny.safetensors"), os.path.join(tmp, "tiny.cfg")
        for cmd in ([args.yolo, "export", "--model", os.path.join(models, "yolov3-tiny.cfg"), "--output", st],
                    [args.yolo, "export", "--model", st, "--format", "darknet", "--output", cfg]):
            print(" ".join(cmd[1:]), "->", subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
        image = cv2.imread(os.path.join(models, "samples", "bus.jpg"))
        original = outputs(os.path.join(models, "yolov3-tiny.cfg"), os.path.join(models, "yolov3-tiny.weights"), image)
        exported = outputs(cfg, os.path.join(tmp, "tiny.weights"), image)
        worst = max(float(np.abs(a - b).max()) for a, b in zip(original, exported))
        same = open(os.path.join(tmp, "tiny.weights"), "rb").read() == open(os.path.join(models, "yolov3-tiny.weights"), "rb").read()
        print(f"OpenCV {cv2.__version__}: {len(original)} outputs, largest difference {worst}; weights bytes identical: {same}")
        return 0 if worst == 0 and same else 1


if __name__ == "__main__":
    sys.exit(main())
