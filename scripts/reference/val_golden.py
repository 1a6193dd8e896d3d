#!/usr/bin/env python3
"""A small YOLO-format dataset made from the sample photos, and Ultralytics' own val metrics on it.

The dataset is not committed: it is a deterministic function of Models/samples/{bus,zidane}.jpg. Each image is a
crop of a sample photo (integer rectangle), maybe mirrored, maybe subsampled by 2 (every other pixel) — only
operations that Python (numpy slicing of cv2.imread) and Swift (the same slicing of the project's decoder, which
equals cv2.imread) do bit for bit — saved as PNG. Labels are the fall-yolov8s detections of each image, jittered,
some dropped, some extra, some relabelled (both classes occur), plus the cases Ultralytics' reader handles: an image
without a label file (background), an empty label file, a polygon-only label file, a duplicate row, and a label
file with a class out of range (Ultralytics leaves that image out).

Writes Tests/Fixtures/val/:
  dataset.json   the recipe: per image its source, crop, mirror, step and label text; names
  golden.json    YOLO("fall-yolov8s.pt").val(data=..., batch=1): results_dict, per-class P/R/mAP50/mAP50-95,
                 images and instances per class; and pycocotools' 12 COCOeval stats of Ultralytics' predictions.json
                 against instances.json
  instances.json the same ground truth as COCO annotations (image ids 1…N, category id = class + 1, as Ultralytics'
                 class_map for a non-COCO dataset; the left-out image is not in it)
  ultralytics_predictions.json  Ultralytics' predictions.json of that val run (save_json=True), image ids mapped to
                 instances.json's
Usage:  .venv/bin/python scripts/reference/val_golden.py [--keep DIR]   (after scripts/fetch-models.sh)
"""
import argparse
import json
import os
import random
import shutil
import tempfile

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import ultralytics  # noqa: E402
from ultralytics import YOLO  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("YOLO_MODELS_DIR", os.path.join(ROOT, "Models"))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "val")
NAMES = ["Normal", "Fall"]


def crop(sample: np.ndarray, item: dict) -> np.ndarray:
    """The recipe's pixels: rows y..y+h, columns x..x+w, mirrored, then every `step`-th pixel (RGB, HWC)."""
    im = sample[item["y"]:item["y"] + item["h"], item["x"]:item["x"] + item["w"]]
    if item["mirror"]:
        im = im[:, ::-1]
    return np.ascontiguousarray(im[::item["step"], ::item["step"]])


def materialize(recipe: dict, folder: str) -> str:
    """Writes images/val/*.png, labels/val/*.txt and data.yaml under `folder`; returns the yaml path."""
    samples = {n: cv2.imread(os.path.join(MODELS, "samples", n))[:, :, ::-1] for n in ("bus.jpg", "zidane.jpg")}
    os.makedirs(os.path.join(folder, "images", "val"), exist_ok=True)
    os.makedirs(os.path.join(folder, "labels", "val"), exist_ok=True)
    for item in recipe["images"]:
        im = crop(samples[item["source"]], item)
        cv2.imwrite(os.path.join(folder, "images", "val", item["name"] + ".png"), im[:, :, ::-1])
        if item["labels"] is not None:
            with open(os.path.join(folder, "labels", "val", item["name"] + ".txt"), "w") as f:
                f.write(item["labels"])
    yaml = os.path.join(folder, "data.yaml")
    with open(yaml, "w") as f:
        f.write(f"path: {folder}\ntrain: images/val\nval: images/val\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES)))
    return yaml


def make_recipe(model: YOLO) -> dict:
    rng = random.Random(7)
    samples = {n: cv2.imread(os.path.join(MODELS, "samples", n))[:, :, ::-1] for n in ("bus.jpg", "zidane.jpg")}
    images = []
    for k in range(24):
        source = ("bus.jpg", "zidane.jpg")[k % 2]
        H, W = samples[source].shape[:2]
        w, h = int(W * rng.uniform(0.55, 1.0)), int(H * rng.uniform(0.55, 1.0))
        item = {"name": f"img_{k:02d}", "source": source, "x": rng.randrange(0, W - w + 1), "y": rng.randrange(0, H - h + 1),
                "w": w, "h": h, "mirror": rng.random() < 0.5, "step": 2 if rng.random() < 0.3 else 1}
        im = crop(samples[source], item)
        r = model.predict(im[:, :, ::-1].copy(), conf=0.2, verbose=False)[0]
        ih, iw = im.shape[:2]
        rows = []
        for (x1, y1, x2, y2), c in zip(r.boxes.xyxy.tolist(), r.boxes.cls.tolist()):
            if rng.random() < 0.15:
                continue  # dropped: a missed object for the model
            bw, bh = x2 - x1, y2 - y1
            x1 += rng.gauss(0, 0.04) * bw; x2 += rng.gauss(0, 0.04) * bw
            y1 += rng.gauss(0, 0.04) * bh; y2 += rng.gauss(0, 0.04) * bh
            x1, x2 = max(0, min(x1, x2)), min(iw, max(x1, x2))
            y1, y2 = max(0, min(y1, y2)), min(ih, max(y1, y2))
            cls = int(c) if rng.random() > 0.25 else 1 - int(c)
            rows.append((cls, (x1 + x2) / 2 / iw, (y1 + y2) / 2 / ih, (x2 - x1) / iw, (y2 - y1) / ih))
        for _ in range(rng.choice([0, 0, 1, 2])):  # extra objects the model will not find
            cw, ch = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
            rows.append((rng.randrange(2), rng.uniform(cw / 2, 1 - cw / 2), rng.uniform(ch / 2, 1 - ch / 2), cw, ch))
        item["labels"] = "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in rows)
        images.append(item)
    images[0]["labels"] = None  # no label file: a background image
    images[1]["labels"] = ""  # an empty label file
    # Polygon-only file (Ultralytics refuses a mix of polygons and boxes): each box as a 6-point polygon.
    poly = []
    for line in images[2]["labels"].splitlines():
        c, x, y, w, h = line.split()
        x, y, w, h = map(float, (x, y, w, h))
        pts = [(x - w / 2, y), (x - w / 4, y - h / 2), (x + w / 4, y - h / 2), (x + w / 2, y), (x + w / 4, y + h / 2), (x - w / 4, y + h / 2)]
        poly.append(c + "".join(f" {px:.6f} {py:.6f}" for px, py in pts) + "\n")
    images[2]["labels"] = "".join(poly)
    first = images[3]["labels"].splitlines(keepends=True)
    images[3]["labels"] += first[0] if first else "0 0.5 0.5 0.2 0.2\n"  # a duplicate row, dropped with a warning
    images[4]["labels"] += "5 0.5 0.5 0.1 0.1\n"  # class 5 >= 2 names: the image is left out
    return {"names": NAMES, "images": images}


def coco_golden(recipe: dict, folder: str, save_dir: str):
    """COCO ground truth from the label files, Ultralytics' predictions.json on it, and pycocotools' stats."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, ids = [], [], {}
    for item in recipe["images"]:
        path = os.path.join(folder, "images", "val", item["name"] + ".png")
        h, w = cv2.imread(path).shape[:2]
        rows = [line.split() for line in (item["labels"] or "").splitlines() if line.strip()]
        if any(int(r[0]) >= len(NAMES) for r in rows):
            continue  # Ultralytics left this image out
        ids[item["name"]] = len(images) + 1
        images.append({"id": len(images) + 1, "file_name": item["name"] + ".png", "width": w, "height": h})
        seen = set()
        for r in rows:
            values = tuple(float(v) for v in r[1:])
            if len(values) > 4:  # polygon: its bounding box
                xs, ys = values[0::2], values[1::2]
                x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
                values = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
            key = (r[0],) + values
            if key in seen:
                continue
            seen.add(key)
            cx, cy, bw, bh = values
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
            annotations.append({"id": len(annotations) + 1, "image_id": ids[item["name"]], "category_id": int(r[0]) + 1,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    instances = {"images": images, "annotations": annotations,
                 "categories": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]}
    with open(os.path.join(save_dir, "predictions.json")) as f:
        predictions = [dict(p, image_id=ids[p["image_id"]]) for p in json.load(f) if p["image_id"] in ids]
    gt_path, dt_path = os.path.join(folder, "instances.json"), os.path.join(folder, "dt.json")
    with open(gt_path, "w") as f:
        json.dump(instances, f)
    with open(dt_path, "w") as f:
        json.dump(predictions, f)
    gt = COCO(gt_path)
    evaluator = COCOeval(gt, gt.loadRes(dt_path), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return [float(v) for v in evaluator.stats], instances, predictions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", help="also leave the materialized dataset in this folder")
    args = parser.parse_args()
    model = YOLO(os.path.join(MODELS, "fall-yolov8s.pt"))
    recipe = make_recipe(model)
    folder = args.keep or tempfile.mkdtemp(prefix="yolo-val-")
    if args.keep and os.path.exists(folder):
        shutil.rmtree(folder)
    yaml = materialize(recipe, folder)
    metrics = YOLO(os.path.join(MODELS, "fall-yolov8s.pt")).val(data=yaml, batch=1, imgsz=640, plots=False, verbose=False,
                                                               workers=0, project=os.path.join(folder, "runs"), save_json=True)
    box = metrics.box
    per_class = []
    for i, c in enumerate(box.ap_class_index.tolist()):
        p, r, ap50, ap = box.class_result(i)
        per_class.append({"class": int(c), "name": NAMES[int(c)], "precision": p, "recall": r, "mAP50": ap50, "mAP50-95": ap,
                          "images": int(metrics.nt_per_image[int(c)]), "instances": int(metrics.nt_per_class[int(c)])})
    golden = {
        "ultralytics": ultralytics.__version__,
        "call": "YOLO('fall-yolov8s.pt').val(data=data.yaml, batch=1, imgsz=640)",
        "results_dict": {k: float(v) for k, v in metrics.results_dict.items()},
        "per_class": per_class,
        "instances": int(metrics.nt_per_class.sum()),
    }
    golden["coco_eval"], instances, predictions = coco_golden(recipe, folder, str(metrics.save_dir))
    os.makedirs(OUT, exist_ok=True)
    for name, value in (("instances.json", instances), ("ultralytics_predictions.json", predictions)):
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(value, f, separators=(",", ":"))
            f.write("\n")
    with open(os.path.join(OUT, "dataset.json"), "w") as f:
        json.dump(recipe, f, indent=1)
        f.write("\n")
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(json.dumps(golden, indent=1))
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
