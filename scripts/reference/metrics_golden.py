#!/usr/bin/env python3
"""Golden numbers for the validation metrics, made with Ultralytics' own metric code and pycocotools.

Writes Tests/Fixtures/metrics/metrics_golden.json: seeded synthetic predictions and labels for several images
(several classes, crowded images, empty images, images without predictions, a class with predictions but no
labels, a class with labels but no predictions, ties in confidence) and what the references compute from them:

  ultralytics            DetectionValidator.match_predictions (+ ultralytics.utils.metrics.box_iou) per image,
                         DetMetrics.process (ap_per_class, compute_ap, smooth, Metric): per class and overall P, R,
                         mAP50, mAP50-95, fitness, images/instances per class. Confidence ties that would make the
                         result depend on numpy's (unstable) argsort are broken by nudging them; the script checks
                         that the remaining ties give the same numbers with a stable and the default sort.
  ultralytics_stable     the same code on data whose ties *do* matter, run with np.argsort made stable (ties kept
                         in input order), which is what YOLOKit does: numpy's default sort orders equal keys
                         in a CPU-dependent way, so Ultralytics itself is not deterministic there.
  confusion_matrix       ConfusionMatrix.process_batch(conf=0.25, iou_thres=0.45) summed over the images.
  coco                   pycocotools COCOeval (iouType bbox) on the same kind of data as COCO json: crowd
                         annotations, 'area' different from the box area, non-contiguous category ids, an image
                         with more than 100 detections, tied scores, a category without annotations: the 12
                         stats and the AP per category.
  labels                 verify_image_label on small label files: the boxes kept (order included) or the fact
                         that the file is rejected.

Usage: /work/main/.venv/bin/python scripts/reference/metrics_golden.py   (any venv with ultralytics, torch and
pycocotools). Deterministic (numpy default_rng with fixed seeds). Nothing is downloaded.
"""
from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import pycocotools  # noqa: E402
import ultralytics  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402
from ultralytics.data.utils import verify_image_label  # noqa: E402
from ultralytics.models.yolo.detect import DetectionValidator  # noqa: E402
from ultralytics.utils import metrics as umetrics  # noqa: E402
from ultralytics.utils.metrics import ConfusionMatrix, DetMetrics, box_iou  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "Tests" / "Fixtures" / "metrics" / "metrics_golden.json"
NAMES = ["person", "car", "dog", "kite", "boat"]  # class 4 (boat): predictions only; class 3 (kite): labels only


def f32(x) -> float:
    """A float32 value written as the float64 JSON number that round-trips to it."""
    return float(np.float32(x))


# ---------------------------------------------------------------------------------------------------------------
# Synthetic images
# ---------------------------------------------------------------------------------------------------------------
def random_box(rng, w, h, lo=8, hi=300):
    bw, bh = rng.uniform(lo, min(hi, w - 1)), rng.uniform(lo, min(hi, h - 1))
    x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    return [x1, y1, x1 + bw, y1 + bh]


def jitter(rng, b, amount):
    bw, bh = b[2] - b[0], b[3] - b[1]
    return [b[0] + rng.normal(0, amount) * bw, b[1] + rng.normal(0, amount) * bh,
            b[2] + rng.normal(0, amount) * bw, b[3] + rng.normal(0, amount) * bh]


def make_images(seed: int, n_images: int, conf_grid: float, crowd: bool):
    """Images of 640x480 with labels [box xyxy, class, crowd] and predictions [box, conf, class]."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        w, h = 640, 480
        kind = i % 7
        n_labels = 0 if kind in (3, 5) else int(rng.integers(1, 10))
        if kind == 6:
            n_labels = 25  # crowded
        labels = []
        for _ in range(n_labels):
            c = int(rng.choice([0, 0, 1, 1, 2, 3]))
            labels.append({"box": random_box(rng, w, h), "class": c, "crowd": bool(crowd and rng.random() < 0.1)})
        preds = []
        if kind != 4:  # kind 4: labels but no predictions
            for lb in labels:
                if lb["class"] == 3 or rng.random() < 0.15:  # kite never predicted; some labels missed
                    continue
                for _ in range(1 + int(rng.random() < 0.3)):  # sometimes a duplicate detection
                    c = lb["class"] if rng.random() > 0.1 else int(rng.integers(0, 5))
                    preds.append({"box": jitter(rng, lb["box"], rng.choice([0.02, 0.05, 0.12])), "class": c})
            for _ in range(int(rng.integers(0, 6))):  # background false positives
                preds.append({"box": random_box(rng, w, h), "class": int(rng.choice([0, 1, 2, 4]))})
        if kind == 5 and i % 2 == 1:
            preds = []  # neither labels nor predictions
        for p in preds:
            p["conf"] = round(float(rng.uniform(0.001, 1.0)) / conf_grid) * conf_grid or conf_grid
        for item in labels + preds:  # float32 coordinates clipped to the image, as the validator has them
            b = np.clip(np.array(item["box"]), 0, [w, h, w, h]).astype(np.float32)
            item["box"] = [f32(v) for v in b]
        for p in preds:
            p["conf"] = f32(p["conf"])
        images.append({"width": w, "height": h, "labels": labels, "predictions": preds})
    return images


# ---------------------------------------------------------------------------------------------------------------
# Ultralytics
# ---------------------------------------------------------------------------------------------------------------
def validator():
    v = DetectionValidator.__new__(DetectionValidator)  # only match_predictions is used: it needs iouv alone
    v.iouv = torch.linspace(0.5, 0.95, 10)
    return v


def sorted_predictions(img):
    """Predictions in descending confidence, ties in input order (what NMS hands the validator, made definite)."""
    order = np.argsort(-np.array([p["conf"] for p in img["predictions"]], dtype=np.float32), kind="stable")
    return [img["predictions"][k] for k in order]


def correct_matrix(img, v):
    """(N, 10) bool per prediction (sorted) as DetectionValidator._process_batch computes it."""
    preds = sorted_predictions(img)
    labels = [lb for lb in img["labels"] if not lb["crowd"]]
    if not preds or not labels:
        return np.zeros((len(preds), 10), dtype=bool)
    lbox = torch.tensor([lb["box"] for lb in labels], dtype=torch.float32)
    pbox = torch.tensor([p["box"] for p in preds], dtype=torch.float32)
    iou = box_iou(lbox, pbox)
    pc = torch.tensor([p["class"] for p in preds], dtype=torch.float32)
    tc = torch.tensor([lb["class"] for lb in labels], dtype=torch.float32)
    return v.match_predictions(pc, tc, iou).cpu().numpy()


def run_det_metrics(images):
    v = validator()
    metrics = DetMetrics(names=dict(enumerate(NAMES)))
    per_image_tp = []
    for k, img in enumerate(images):
        preds = sorted_predictions(img)
        labels = [lb for lb in img["labels"] if not lb["crowd"]]
        tp = correct_matrix(img, v)
        per_image_tp.append(tp.astype(int).tolist())
        cls = np.array([lb["class"] for lb in labels], dtype=np.float32)
        metrics.update_stats({
            "tp": tp,
            "target_cls": cls,
            "target_img": np.unique(cls),
            "conf": np.array([p["conf"] for p in preds], dtype=np.float32) if preds else np.zeros(0),
            "pred_cls": np.array([p["class"] for p in preds], dtype=np.float32) if preds else np.zeros(0),
            "im_name": f"im{k}.jpg",
        })
    metrics.process()
    rd = metrics.results_dict
    per_class = []
    for i, c in enumerate(metrics.ap_class_index):
        p, r, ap50, ap = metrics.class_result(i)
        per_class.append({
            "class": int(c), "name": NAMES[c], "images": int(metrics.nt_per_image[c]),
            "instances": int(metrics.nt_per_class[c]), "precision": float(p), "recall": float(r),
            "mAP50": float(ap50), "mAP50-95": float(ap), "ap": [float(x) for x in metrics.box.all_ap[i]],
        })
    return {
        "correct": per_image_tp,
        "images": len(images),
        "instances": int(metrics.nt_per_class.sum()),
        "precision": rd["metrics/precision(B)"], "recall": rd["metrics/recall(B)"],
        "mAP50": rd["metrics/mAP50(B)"], "mAP50-95": rd["metrics/mAP50-95(B)"], "fitness": rd["fitness"],
        "per_class": per_class,
    }


@contextlib.contextmanager
def stable_argsort():
    """np.argsort with kind='stable' unless a kind is given (ap_per_class calls np.argsort(-conf))."""
    original = np.argsort

    def argsort(a, *args, **kw):
        if not args and "kind" not in kw:
            kw["kind"] = "stable"
        return original(a, *args, **kw)

    np.argsort = argsort
    try:
        yield
    finally:
        np.argsort = original


def harmful_tie_groups(images):
    """Groups of predictions of one class with equal confidence whose correct rows differ."""
    v = validator()
    rows = {}
    for k, img in enumerate(images):
        preds = sorted_predictions(img)
        tp = correct_matrix(img, v)
        for j, p in enumerate(preds):
            rows.setdefault((p["class"], p["conf"]), []).append((tuple(tp[j]), k, p))
    return [g for g in rows.values() if len({r[0] for r in g}) > 1]


def break_harmful_ties(images, rng):
    for _ in range(50):
        groups = harmful_tie_groups(images)
        if not groups:
            return
        for g in groups:
            for n, (_, _, p) in enumerate(g[1:], 1):
                p["conf"] = f32(p["conf"] - n * float(rng.uniform(1e-4, 9e-4)))
    raise SystemExit("could not break the confidence ties")


def run_confusion_matrix(images):
    cm = ConfusionMatrix(names=dict(enumerate(NAMES)))
    for img in images:
        preds = sorted_predictions(img)
        labels = [lb for lb in img["labels"] if not lb["crowd"]]
        det = {
            "bboxes": torch.tensor([p["box"] for p in preds], dtype=torch.float32).reshape(-1, 4),
            "conf": torch.tensor([p["conf"] for p in preds], dtype=torch.float32),
            "cls": torch.tensor([p["class"] for p in preds], dtype=torch.float32),
        }
        batch = {
            "bboxes": torch.tensor([lb["box"] for lb in labels], dtype=torch.float32).reshape(-1, 4),
            "cls": torch.tensor([lb["class"] for lb in labels], dtype=torch.float32),
        }
        cm.process_batch(det, batch, conf=0.25, iou_thres=0.45)
    return cm.matrix.astype(int).tolist()


# ---------------------------------------------------------------------------------------------------------------
# pycocotools
# ---------------------------------------------------------------------------------------------------------------
CATEGORY_IDS = [1, 3, 7, 8, 12]  # class i -> category id; 12 (boat) has no annotations


def make_coco(seed: int):
    rng = np.random.default_rng(seed)
    images = make_images(seed, 16, 0.05, crowd=True)
    # image 0: more than 100 detections (maxDets 100 truncation), many tied scores
    big = images[0]
    for _ in range(130):
        b = random_box(rng, 640, 480, 4, 200)
        big["predictions"].append({"box": [f32(v) for v in b], "conf": f32(round(rng.uniform(0, 1), 1) or 0.1),
                                   "class": int(rng.integers(0, 3))})
    gt = {"images": [], "annotations": [], "categories": [{"id": c, "name": n} for c, n in zip(CATEGORY_IDS, NAMES)]}
    dets = []
    ann_id = 1
    for k, img in enumerate(images):
        image_id = 100 + 3 * k  # ids neither contiguous nor from 0
        gt["images"].append({"id": image_id, "file_name": f"im{k}.jpg", "width": img["width"], "height": img["height"]})
        for lb in img["labels"]:
            x1, y1, x2, y2 = lb["box"]
            w, h = x2 - x1, y2 - y1
            gt["annotations"].append({
                "id": ann_id, "image_id": image_id, "category_id": CATEGORY_IDS[lb["class"]],
                "bbox": [x1, y1, w, h], "area": w * h * float(rng.uniform(0.5, 1.0)),
                "iscrowd": int(lb["crowd"]),
            })
            ann_id += 1
        for p in img["predictions"]:
            x1, y1, x2, y2 = p["box"]
            dets.append({"image_id": image_id, "category_id": CATEGORY_IDS[p["class"]],
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": p["conf"]})
    dets.append({"image_id": 100, "category_id": 99, "bbox": [1, 1, 50, 50], "score": 0.9})  # unknown category
    return gt, dets


def run_cocoeval(gt, dets):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = json.loads(json.dumps(gt))
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(json.loads(json.dumps(dets)))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    per_category = []
    for k, cat in enumerate(ev.params.catIds):
        s = precision[:, :, k, 0, 2]
        s50 = precision[0, :, k, 0, 2]
        per_category.append({
            "category_id": int(cat),
            "ap": float(np.mean(s[s > -1])) if (s > -1).any() else -1.0,
            "ap50": float(np.mean(s50[s50 > -1])) if (s50 > -1).any() else -1.0,
        })
    return {"stats": [float(x) for x in ev.stats], "per_category": per_category}


# ---------------------------------------------------------------------------------------------------------------
# Label files
# ---------------------------------------------------------------------------------------------------------------
LABEL_CASES = {
    "plain": "0 0.5 0.5 0.2 0.3\n2 0.25 0.75 0.1 0.1\n",
    "duplicates": "1 0.5 0.5 0.2 0.3\n0 0.9 0.1 0.05 0.05\n1 0.5 0.5 0.2 0.3\n0 0.1 0.2 0.3 0.4\n",
    "polygon": "0 0.1 0.1 0.4 0.15 0.35 0.6 0.05 0.5\n2 0.6 0.6 0.9 0.6 0.9 0.95\n",
    "polygon_duplicates": "1 0.1 0.1 0.4 0.1 0.4 0.4\n1 0.1 0.1 0.4 0.1 0.4 0.4\n0 0.5 0.5 0.6 0.5 0.6 0.6 0.5 0.6\n",
    "crlf_bom_blank": "\ufeff0 0.5 0.5 0.2 0.3\r\n\r\n   \r\n1 0.4 0.4 0.1 0.1\r\n",
    "tolerance": "0 0.5 0.5 1.01 0.3\n1 -0.005 0.5 0.2 0.3\n",
    "empty": "",
    "whitespace_only": " \n\n\t\n",
    "mixed_segment_and_box": "0 0.1 0.1 0.4 0.15 0.35 0.6\n1 0.5 0.5 0.2 0.2\n",
    "six_columns": "0 0.5 0.5 0.2 0.3 0.9\n",
    "four_columns": "0 0.5 0.5 0.2\n",
    "ragged": "0 0.5 0.5 0.2 0.3\n1 0.5 0.5 0.2 0.3 0.1\n",
    "out_of_range": "0 0.5 0.5 1.2 0.3\n",
    "negative": "0 0.5 -0.02 0.2 0.3\n",
    "negative_size": "0 0.5 0.5 -0.005 0.3\n",
    "class_too_big": "5 0.5 0.5 0.2 0.3\n",
    "class_fraction": "1.5 0.5 0.5 0.2 0.3\n",
    "class_negative": "-1 0.5 0.5 0.2 0.3\n",
    "not_a_number": "0 0.5 abc 0.2 0.3\n",
    "nan": "0 nan 0.5 0.2 0.3\n",
    "inf": "0 inf 0.5 0.2 0.3\n",
    "odd_polygon": "0 0.1 0.1 0.4 0.15 0.35 0.6 0.2\n",
}


def run_label_cases():
    out = {}
    with tempfile.TemporaryDirectory() as d:
        img = Path(d) / "images" / "im.png"
        img.parent.mkdir()
        cv2.imwrite(str(img), np.full((32, 48, 3), 127, np.uint8))
        for name, text in LABEL_CASES.items():
            lb_file = Path(d) / f"{name}.txt"
            lb_file.write_bytes(text.encode("utf-8"))
            r = verify_image_label((str(img), str(lb_file), "", False, len(NAMES), 0, 0, False))
            if r[0] is None:
                out[name] = {"text": text, "corrupt": True, "message": r[-1]}
            else:
                out[name] = {"text": text, "corrupt": False, "labels": [[f32(v) for v in row] for row in r[1]],
                             "duplicates_removed": "duplicate labels removed" in r[-1]}
    return out


def main() -> int:
    rng = np.random.default_rng(11)
    main_images = make_images(1, 21, 0.02, crowd=False)
    break_harmful_ties(main_images, rng)
    ultra = run_det_metrics(main_images)
    with stable_argsort():
        ultra_stable_check = run_det_metrics(main_images)
    assert ultra == ultra_stable_check, "remaining confidence ties change Ultralytics' numbers"
    ties_images = make_images(2, 14, 0.1, crowd=False)
    assert harmful_tie_groups(ties_images), "the ties case needs ties that matter"
    with stable_argsort():
        ultra_ties = run_det_metrics(ties_images)
    ultra_ties_default = run_det_metrics(ties_images)
    gt, dets = make_coco(3)
    fixture = {
        "generator": "scripts/reference/metrics_golden.py",
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "pycocotools": getattr(pycocotools, "__version__", "2.0.x")},
        "names": NAMES,
        "iou_thresholds": [float(x) for x in torch.linspace(0.5, 0.95, 10).numpy()],
        "main": {"images": main_images, "ultralytics": ultra, "confusion_matrix": run_confusion_matrix(main_images)},
        "ties": {"images": ties_images, "ultralytics_stable": ultra_ties,
                 "default_sort_differs": ultra_ties_default != ultra_ties},
        "coco": {"ground_truth": gt, "detections": dets, "pycocotools": run_cocoeval(gt, dets)},
        "labels": run_label_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size} bytes): "
          f"main mAP50-95 {ultra['mAP50-95']:.6f}, ties mAP50-95 {ultra_ties['mAP50-95']:.6f} "
          f"(default numpy sort differs: {fixture['ties']['default_sort_differs']}), "
          f"COCO AP {fixture['coco']['pycocotools']['stats'][0]:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
