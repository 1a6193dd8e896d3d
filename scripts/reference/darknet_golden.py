#!/usr/bin/env python3
"""Golden files for the Darknet (.cfg/.weights) path, made with OpenCV DNN's Darknet importer.

Writes
  Tests/Fixtures/yolov3-tiny/   real YOLOv3-tiny (Models/yolov3-tiny.{cfg,weights}) on bus.jpg:
      input_416x416.rgb          uint8 HWC RGB, cv2.resize(RGB(bus.jpg), 416x416, INTER_LINEAR)
      conv_15.f32, conv_22.f32   raw logits feeding the [yolo] layers, float32 LE, NCHW [1,255,H,W]
      yolo_16.f32, yolo_23.f32   OpenCV [yolo] (Region) layer outputs, float32 LE, [rows, 85]
      detections_bus.json, detections_zidane.json   final boxes (blobFromImage + NMSBoxesBatched)
      meta.json                  layout, formulas, thresholds, OpenCV version, forward time
  Tests/Fixtures/tiny-v4/       hand-written YOLOv4-tiny-topology cfg with seeded random weights:
      tiny-v4.cfg (checked in, read here), tiny-v4.weights (generated), input_96x96.rgb,
      conv_31.f32, conv_38.f32, yolo_32.f32, yolo_39.f32, meta.json

Self-checks (the script fails loudly if any of them does not hold):
  * a numpy decode of the conv logits reproduces OpenCV's [yolo] outputs (<= 1e-5), which proves the
    layout written into meta.json;
  * a pure-numpy Darknet forward pass (conv/BN/leaky/mish/swish, maxpool, route incl. groups,
    shortcut, upsample) reproduces OpenCV's conv logits for both networks;
  * a hand-rolled per-class greedy NMS gives the same boxes as cv2.dnn.NMSBoxesBatched.

Usage (from anywhere):  .venv/bin/python scripts/reference/darknet_golden.py [--no-timing | --timing-only]
Deterministic: the only randomness is numpy.random.default_rng with fixed seeds.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import struct
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "Models"
FIX = ROOT / "Tests" / "Fixtures"
V3_DIR = FIX / "yolov3-tiny"
V4_DIR = FIX / "tiny-v4"

YOLO_ZERO_THRESHOLD = 0.2   # OpenCV Darknet importer default for [yolo] `thresh` (RegionLayer)
CONF = 0.25
IOU = 0.45
WRITTEN: list[Path] = []


# --------------------------------------------------------------------------- small helpers
def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    WRITTEN.append(path)


def write_f32(path: Path, arr: np.ndarray) -> None:
    write_bytes(path, np.ascontiguousarray(arr, dtype="<f4").tobytes())


def write_json(path: Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def make_net(cfg: Path, weights: Path):
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


def to_tensor(rgb: np.ndarray) -> np.ndarray:
    """uint8 HWC RGB -> float32 NCHW [1,3,H,W], x = float(byte) / 255 (exactly what Swift does)."""
    x = rgb.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def sigmoid32(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return (np.float32(1) / (np.float32(1) + np.exp(-x))).astype(np.float32)


# --------------------------------------------------------------------------- cfg parsing
def parse_cfg(text: str) -> tuple[dict, list[dict]]:
    """Returns ([net] options, list of layer sections); values stay strings; '#'/';' lines skipped."""
    net: dict = {}
    layers: list[dict] = []
    cur = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            kind = line[1:line.index("]")].strip()
            cur = {"type": kind}
            if kind == "net":
                net = cur
            else:
                layers.append(cur)
            continue
        k, v = line.split("=", 1)
        cur[k.strip()] = v.strip()
    return net, layers


def ints(s: str) -> list[int]:
    return [int(t) for t in s.replace(" ", "").split(",") if t]


def floats(s: str) -> list[float]:
    return [float(t) for t in s.replace(" ", "").split(",") if t]


def yolo_heads(layers: list[dict]) -> list[dict]:
    """[yolo] layers with their index, the conv that feeds them, masks, anchors and scale_x_y."""
    heads = []
    for i, l in enumerate(layers):
        if l["type"] != "yolo":
            continue
        anchors = np.array(floats(l["anchors"]), np.float64).reshape(-1, 2)
        mask = ints(l["mask"])
        heads.append({
            "index": i, "name": f"yolo_{i}", "conv": f"conv_{i - 1}",
            "classes": int(l["classes"]), "mask": mask,
            "anchors": anchors[mask].tolist(), "scale_x_y": float(l.get("scale_x_y", 1.0)),
        })
        assert layers[i - 1]["type"] == "convolutional" and layers[i - 1].get("activation") == "linear"
    return heads


# --------------------------------------------------------------------------- numpy Darknet forward
def read_weights(path: Path, net_opts: dict, layers: list[dict]) -> list[dict | None]:
    """Parses a Darknet .weights file against the cfg; returns per-layer param dicts (convs only)."""
    data = path.read_bytes()
    major, minor, _rev = struct.unpack_from("<iii", data, 0)
    off = 12 + (8 if major * 10 + minor >= 2 else 4)
    floats_ = np.frombuffer(data, "<f4", offset=off)
    pos = 0

    def take(n):
        nonlocal pos
        a = floats_[pos:pos + n]
        pos += n
        assert a.size == n, "weights file too short"
        return a.astype(np.float32)

    channels = []  # output channels per layer
    c = int(net_opts.get("channels", 3))
    params: list[dict | None] = []
    for i, l in enumerate(layers):
        t = l["type"]
        p = None
        if t == "convolutional":
            f, k, g = int(l["filters"]), int(l["size"]), int(l.get("groups", 1))
            p = {"bias": take(f)}
            if int(l.get("batch_normalize", 0)):
                p["scale"], p["mean"], p["var"] = take(f), take(f), take(f)
            p["w"] = take(f * (c // g) * k * k).reshape(f, c // g, k, k)
            c = f
        elif t == "route":
            idx = [j if j >= 0 else i + j for j in ints(l["layers"])]
            c = sum(channels[j] for j in idx) // int(l.get("groups", 1))
        channels.append(c)
        params.append(p)
    assert pos == floats_.size, f"{floats_.size - pos} unread floats in {path.name}"
    return params


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """x [C,H,W] float64, w [F,C,k,k] -> [F,Ho,Wo] (cross-correlation, zero padding)."""
    C, H, W = x.shape
    F, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    Ho = (H + 2 * pad - k) // stride + 1
    Wo = (W + 2 * pad - k) // stride + 1
    cols = np.empty((C, k, k, Ho, Wo), x.dtype)
    for dy in range(k):
        for dx in range(k):
            cols[:, dy, dx] = xp[:, dy:dy + stride * (Ho - 1) + 1:stride, dx:dx + stride * (Wo - 1) + 1:stride]
    return (w.reshape(F, -1).astype(np.float64) @ cols.reshape(C * k * k, -1)).reshape(F, Ho, Wo)


def activate(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "linear":
        return x
    if kind == "leaky":
        return np.where(x > 0, x, 0.1 * x)
    if kind == "mish":
        return x * np.tanh(np.logaddexp(0.0, x))
    if kind == "swish":
        return x / (1.0 + np.exp(-x))
    if kind == "logistic":
        return 1.0 / (1.0 + np.exp(-x))
    raise ValueError(kind)


def maxpool(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """OpenCV/Darknet maxpool: total padding size-1, floor((size-1)/2) before, rest after;
    padded cells never win (treated as -inf); out = (in + size-1 - size) // stride + 1."""
    C, H, W = x.shape
    pad = size - 1
    before = pad // 2
    Ho = (H + pad - size) // stride + 1
    Wo = (W + pad - size) // stride + 1
    xp = np.full((C, H + pad, W + pad), -np.inf)
    xp[:, before:before + H, before:before + W] = x
    out = np.full((C, Ho, Wo), -np.inf)
    for dy in range(size):
        for dx in range(size):
            out = np.maximum(out, xp[:, dy:dy + stride * (Ho - 1) + 1:stride, dx:dx + stride * (Wo - 1) + 1:stride])
    return out


def numpy_forward(cfg_text: str, weights: Path, x: np.ndarray) -> list[np.ndarray]:
    """Reference Darknet forward in float64; returns every layer's output ([yolo] = its input)."""
    net_opts, layers = parse_cfg(cfg_text)
    params = read_weights(weights, net_opts, layers)
    outs: list[np.ndarray] = []
    cur = x[0].astype(np.float64)
    for i, l in enumerate(layers):
        t = l["type"]
        if t == "convolutional":
            p = params[i]
            k, s = int(l["size"]), int(l.get("stride", 1))
            pad = k // 2 if int(l.get("pad", 0)) else int(l.get("padding", 0))
            assert int(l.get("groups", 1)) == 1
            y = conv2d(cur, p["w"], s, pad)
            if "scale" in p:  # OpenCV BatchNorm, eps = 1e-6
                inv = p["scale"].astype(np.float64) / np.sqrt(p["var"].astype(np.float64) + 1e-6)
                y = (y - p["mean"][:, None, None]) * inv[:, None, None] + p["bias"][:, None, None]
            else:
                y = y + p["bias"][:, None, None]
            cur = activate(y, l.get("activation", "linear"))
        elif t == "maxpool":
            cur = maxpool(cur, int(l.get("size", 2)), int(l.get("stride", 2)))
        elif t == "route":
            idx = [j if j >= 0 else i + j for j in ints(l["layers"])]
            cur = np.concatenate([outs[j] for j in idx], axis=0)
            g, gid = int(l.get("groups", 1)), int(l.get("group_id", 0))
            n = cur.shape[0] // g
            cur = cur[gid * n:(gid + 1) * n]
        elif t == "shortcut":
            j = int(l["from"])
            j = j if j >= 0 else i + j
            cur = activate(cur + outs[j], l.get("activation", "linear"))
        elif t == "upsample":
            s = int(l.get("stride", 2))
            cur = cur.repeat(s, axis=1).repeat(s, axis=2)
        elif t == "yolo":
            pass
        else:
            raise ValueError(f"layer {i}: unsupported type {t}")
        outs.append(cur)
    return outs


# --------------------------------------------------------------------------- yolo decode
def decode_yolo(logits: np.ndarray, head: dict, net_w: int, net_h: int) -> np.ndarray:
    """conv logits [1, A*(5+C), H, W] -> OpenCV [yolo] layer rows [H*W*A, 5+C] (float32 math)."""
    A, C = len(head["mask"]), head["classes"]
    _, ch, H, W = logits.shape
    assert ch == A * (5 + C)
    t = logits[0].reshape(A, 5 + C, H, W).transpose(2, 3, 0, 1).astype(np.float32)  # [H,W,A,5+C]
    gy, gx = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32), indexing="ij")
    sxy = np.float32(head["scale_x_y"])
    anchors = np.array(head["anchors"], np.float32)
    out = np.empty_like(t)
    out[..., 0] = (gx[..., None] + sigmoid32(t[..., 0]) * sxy - (sxy - 1) / 2) / np.float32(W)
    out[..., 1] = (gy[..., None] + sigmoid32(t[..., 1]) * sxy - (sxy - 1) / 2) / np.float32(H)
    out[..., 2] = np.exp(t[..., 2]) * anchors[:, 0] / np.float32(net_w)
    out[..., 3] = np.exp(t[..., 3]) * anchors[:, 1] / np.float32(net_h)
    obj = sigmoid32(t[..., 4])
    out[..., 4] = obj
    prob = obj[..., None] * sigmoid32(t[..., 5:])
    out[..., 5:] = np.where(prob > np.float32(YOLO_ZERO_THRESHOLD), prob, np.float32(0))
    return out.reshape(H * W * A, 5 + C)


def check_decode(opencv_rows: np.ndarray, decoded: np.ndarray, label: str) -> dict:
    assert opencv_rows.shape == decoded.shape, (opencv_rows.shape, decoded.shape)
    box_err = float(np.abs(opencv_rows[:, :5] - decoded[:, :5]).max())
    cls_o, cls_d = opencv_rows[:, 5:], decoded[:, 5:]
    # Scores within 1e-6 of the threshold may land on either side (1-ulp exp differences).
    border = np.abs(np.where(cls_d > 0, cls_d, cls_o) - YOLO_ZERO_THRESHOLD) < 1e-6
    cls_err = float(np.abs(cls_o - cls_d)[~border].max())
    assert box_err <= 1e-5 and cls_err <= 1e-5, f"{label}: decode mismatch box {box_err} cls {cls_err}"
    nz = int((cls_o > 0).sum())
    print(f"  decode check {label}: max |err| box/obj {box_err:.2e}, class {cls_err:.2e}; "
          f"{nz} nonzero class scores (min {cls_o[cls_o > 0].min() if nz else float('nan'):.4f})")
    return {"max_abs_err_box_obj": box_err, "max_abs_err_class": cls_err, "nonzero_class_scores": nz}


def check_numpy_forward(cfg: Path, weights: Path, x: np.ndarray, cv_logits: dict, heads, label) -> dict:
    t0 = time.perf_counter()
    outs = numpy_forward(cfg.read_text(), weights, x)
    res = {}
    for h in heads:
        ref = outs[h["index"] - 1]
        got = cv_logits[h["conv"]][0].astype(np.float64)
        err = np.abs(ref - got).max()
        scale = np.abs(ref).max()
        res[h["conv"]] = {"max_abs_err": float(err), "max_abs_value": float(scale)}
        assert err <= 2e-3 * max(1.0, scale), f"{label} {h['conv']}: numpy forward differs by {err}"
        print(f"  numpy forward {label} {h['conv']}: max |err| {err:.2e} (max |logit| {scale:.1f}) "
              f"[{time.perf_counter() - t0:.1f}s]")
    return res


# --------------------------------------------------------------------------- detections
def nms_reference(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_thr: float) -> list[int]:
    """Per-class greedy NMS like cv2.dnn.NMSBoxes: stable sort by score desc, keep a box unless its
    IoU (no +1 pixel terms) with an already kept box of the same class is > iou_thr."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # Python sort is stable
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            if classes[j] != classes[i]:
                continue
            x1, y1, w1, h1 = boxes[i]
            x2, y2, w2, h2 = boxes[j]
            iw = max(0.0, min(x1 + w1, x2 + w2) - max(x1, x2))
            ih = max(0.0, min(y1 + h1, y2 + h2) - max(y1, y2))
            inter = iw * ih
            union = w1 * h1 + w2 * h2 - inter
            if union > 0 and inter / union > iou_thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def detect(net, out_names, names, image_path: Path) -> dict:
    img = cv2.imread(str(image_path))
    H, W = img.shape[:2]
    blob = cv2.dnn.blobFromImage(img, 1 / 255.0, (416, 416), swapRB=True, crop=False)
    net.setInput(blob)
    rows = np.concatenate(net.forward(out_names), axis=0)
    boxes, scores, cls = [], [], []
    for r in rows:
        cx, cy, w, h = (float(v) for v in r[:4])
        for c in np.nonzero(r[5:] > CONF)[0]:
            boxes.append([(cx - w / 2) * W, (cy - h / 2) * H, w * W, h * H])
            scores.append(float(r[5 + c]))
            cls.append(int(c))
    idx = cv2.dnn.NMSBoxesBatched(boxes, scores, cls, CONF, IOU) if boxes else []
    idx = [int(i) for i in np.array(idx).reshape(-1)]
    mine = nms_reference(np.array(boxes), np.array(scores), np.array(cls), IOU)
    assert sorted(idx) == sorted(mine), f"NMS mismatch: cv2 {sorted(idx)} vs numpy {sorted(mine)}"
    dets = []
    for i in sorted(idx, key=lambda i: -scores[i]):
        x, y, w, h = boxes[i]
        dets.append({
            "class": cls[i], "name": names[cls[i]], "confidence": scores[i],
            "box": {"x1": min(max(x, 0.0), W), "y1": min(max(y, 0.0), H),
                    "x2": min(max(x + w, 0.0), W), "y2": min(max(y + h, 0.0), H)},
        })
    return {"image": image_path.name, "width": W, "height": H, "conf": CONF, "iou": IOU,
            "candidates_before_nms": len(boxes), "detections": dets}


# --------------------------------------------------------------------------- meta text
LAYOUT_TEXT = (
    "Each [yolo] output is float32 [rows, 5+classes], rows = H*W*A ordered [y][x][a] "
    "(row = (y*W + x)*A + a; a indexes the anchors listed in 'anchors' = that layer's mask applied to "
    "the cfg anchors; H, W = grid size of the conv feeding it). The conv logits are NCHW "
    "[1, A*(5+classes), H, W] with channel = a*(5+classes) + k, so t_k = logits[0, a*(5+C)+k, y, x]. "
    "Columns: 0 cx = (x + sigmoid(t0)*s - (s-1)/2) / W; 1 cy = (y + sigmoid(t1)*s - (s-1)/2) / H "
    "(s = scale_x_y, 1 when absent); 2 w = exp(t2) * anchor_w / net_width; 3 h = exp(t3) * anchor_h / "
    "net_height (net_width/height = width/height in pixels of the input tensor actually fed to the "
    "network, i.e. the [net] size when fed at that size); 4 obj = sigmoid(t4); 5+c score_c = "
    "obj * sigmoid(t_{5+c}), then score_c = 0 unless score_c > class_score_zero_threshold (strict >). "
    "sigmoid(v) = 1/(1+exp(-v)) in float32. No NMS inside the layer (the importer only adds one when the "
    "[yolo] section sets nms_threshold; verified: overlapping same-class boxes all survive). "
    "cx, cy, w, h are fractions of the network input size."
)


def common_meta() -> dict:
    return {
        "generator": "scripts/reference/darknet_golden.py",
        "reference": "OpenCV DNN Darknet importer (cv2.dnn.readNetFromDarknet), backend OpenCV, target CPU",
        "opencv_version": cv2.__version__,
        "numpy_version": np.__version__,
        "byte_order": "little-endian",
        "class_score_zero_threshold": YOLO_ZERO_THRESHOLD,
        "class_score_zero_rule": "score = obj*sigmoid(cls); stored value = score if score > 0.2 else 0 (0.2 = OpenCV default of the [yolo] key thresh; a cfg value would override it)",
        "row_order": "[y][x][anchor]: row = (y*W + x)*A + a",
        "columns": ["cx", "cy", "w", "h", "objectness", "class scores (obj*class_prob, zeroed <= threshold)..."],
        "layout": LAYOUT_TEXT,
        "batchnorm": "y = (x - rolling_mean) / sqrt(rolling_variance + 1e-6) * scale + bias (OpenCV eps 1e-6)",
        "leaky_slope": 0.1,
        "maxpool": "total padding = size-1 (cfg 'padding' overrides): floor(pad/2) before (top/left), "
                   "the rest after (bottom/right); padded cells are ignored (-inf); "
                   "out = (in + pad - size) // stride + 1. size=2 stride=1 keeps the shape and takes "
                   "max over {x, x+1} x {y, y+1} clipped to the image.",
        "upsample": "nearest: out[c][y][x] = in[c][y // stride][x // stride]",
        "route_groups": "route with groups=g group_id=i: concat the listed layers on channels, then keep "
                        "channels [i*C/g, (i+1)*C/g)",
        "shortcut": "out = activation(previous layer output + output of layer 'from')",
    }


def head_meta(heads, cv_out, net_w, net_h) -> tuple[list, list]:
    outputs, convs = [], []
    for h in heads:
        y = cv_out[h["name"]]
        c = cv_out[h["conv"]]
        outputs.append({
            "name": h["name"], "file": f"{h['name']}.f32", "dtype": "float32", "shape": list(y.shape),
            "grid": {"h": int(c.shape[2]), "w": int(c.shape[3])}, "anchors_per_cell": len(h["mask"]),
            "classes": h["classes"], "mask": h["mask"], "anchors": h["anchors"],
            "scale_x_y": h["scale_x_y"], "net_width": net_w, "net_height": net_h, "fed_by": h["conv"],
        })
        convs.append({
            "name": h["conv"], "file": f"{h['conv']}.f32", "dtype": "float32", "layout": "NCHW",
            "shape": list(c.shape), "feeds": h["name"],
            "note": "pre-activation logits (linear conv with bias, no batchnorm)",
        })
    return outputs, convs


def run_fixture(net, cfg: Path, weights: Path, x: np.ndarray, out_dir: Path, label: str):
    net_opts, layers = parse_cfg(cfg.read_text())
    net_w, net_h = int(net_opts["width"]), int(net_opts["height"])
    heads = yolo_heads(layers)
    out_names = list(net.getUnconnectedOutLayersNames())
    assert out_names == [h["name"] for h in heads], (out_names, heads)
    req = [h["name"] for h in heads] + [h["conv"] for h in heads]
    net.setInput(x)
    cv_out = dict(zip(req, net.forward(req)))
    checks = {"decode": {}, "numpy_forward": None}
    for h in heads:
        write_f32(out_dir / f"{h['name']}.f32", cv_out[h["name"]])
        write_f32(out_dir / f"{h['conv']}.f32", cv_out[h["conv"]])
        dec = decode_yolo(cv_out[h["conv"]], h, net_w, net_h)
        checks["decode"][h["name"]] = check_decode(cv_out[h["name"]], dec, f"{label} {h['name']}")
    checks["numpy_forward"] = check_numpy_forward(cfg, weights, x, cv_out, heads, label)
    outputs, convs = head_meta(heads, cv_out, net_w, net_h)
    return heads, cv_out, outputs, convs, checks


def forward_time(net, x, out_names, threads=2, warmup=3, runs=20, rounds=5) -> dict:
    """median of `runs` forwards after `warmup`; repeated `rounds` times because shared VMs are noisy
    (median_ms = the first round, as specified; round_medians_ms shows the spread)."""
    cv2.setNumThreads(threads)
    net.setInput(x)
    for _ in range(warmup):
        net.forward(out_names)
    medians = []
    for r in range(rounds):
        tr = []
        for _ in range(runs):
            t0 = time.perf_counter()
            net.forward(out_names)
            tr.append((time.perf_counter() - t0) * 1000)
        medians.append(round(statistics.median(tr), 3))
        if r == 0:
            ts = tr
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"median_ms": round(statistics.median(ts), 3), "min_ms": round(min(ts), 3),
            "max_ms": round(max(ts), 3), "round_medians_ms": medians, "runs": runs, "warmup": warmup,
            "cv2_threads": threads,
            "input": list(x.shape), "what": "net.forward(both yolo outputs) after setInput, wall clock",
            "cpu": cpu, "machine": platform.machine()}


# --------------------------------------------------------------------------- part 1: yolov3-tiny
def yolov3_tiny(timing: bool) -> None:
    print("== yolov3-tiny ->", rel(V3_DIR))
    cfg, weights = MODELS / "yolov3-tiny.cfg", MODELS / "yolov3-tiny.weights"
    names = (MODELS / "coco.names").read_text().strip().splitlines()
    img = cv2.imread(str(MODELS / "samples" / "bus.jpg"))
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    resized = cv2.resize(rgb, (416, 416), interpolation=cv2.INTER_LINEAR)
    write_bytes(V3_DIR / "input_416x416.rgb", resized.tobytes())
    x = to_tensor(resized)
    blob = cv2.dnn.blobFromImage(img, 1 / 255.0, (416, 416), swapRB=True, crop=False)
    assert np.array_equal(np.rint(blob[0].transpose(1, 2, 0) * 255).astype(np.uint8), resized)
    blob_diff = float(np.abs(blob - x).max())
    print(f"  blobFromImage vs bytes/255 tensor: max |diff| {blob_diff:.2e} (same resized bytes)")

    net = make_net(cfg, weights)
    heads, cv_out, outputs, convs, checks = run_fixture(net, cfg, weights, x, V3_DIR, "yolov3-tiny")
    out_names = [h["name"] for h in heads]

    dets = {}
    for name in ("bus.jpg", "zidane.jpg"):
        d = detect(net, out_names, names, MODELS / "samples" / name)
        dets[name] = d
        write_json(V3_DIR / f"detections_{Path(name).stem}.json", d)
        print(f"  {name} ({d['width']}x{d['height']}): {d['candidates_before_nms']} candidates "
              f"> {CONF}, {len(d['detections'])} after NMS {IOU}")
        for det in d["detections"]:
            b = det["box"]
            print(f"    {det['name']:<12} {det['confidence']:.4f}  "
                  f"({b['x1']:.1f}, {b['y1']:.1f}) - ({b['x2']:.1f}, {b['y2']:.1f})")

    meta = common_meta()
    meta.update({
        "model": "yolov3-tiny (official Darknet COCO weights)",
        "cfg": "Models/yolov3-tiny.cfg", "weights": "Models/yolov3-tiny.weights",
        "input": {
            "file": "input_416x416.rgb", "width": 416, "height": 416, "format": "uint8 HWC RGB",
            "source": "cv2.imread(Models/samples/bus.jpg) -> BGR2RGB -> cv2.resize((416,416), INTER_LINEAR)",
            "tensor": "float32 NCHW [1,3,416,416], x = Float(byte) / 255, passed with net.setInput",
            "blobFromImage_max_abs_diff": blob_diff,
        },
        "net": {"width": 416, "height": 416, "channels": 3},
        "outputs": outputs,
        "conv_outputs": convs,
        "checks": checks,
        "detections": {
            "files": ["detections_bus.json", "detections_zidane.json"],
            "pipeline": "cv2.imread -> blobFromImage(img, 1/255, (416,416), swapRB=True, crop=False) -> "
                        "forward both [yolo] outputs -> for each row and class c with row[5+c] > 0.25: "
                        "candidate (c, row[5+c], x1=(cx-w/2)*W, y1=(cy-h/2)*H, w*W, h*H) with W,H the "
                        "ORIGINAL image size -> cv2.dnn.NMSBoxesBatched(xywh, scores, classes, 0.25, 0.45) "
                        "(per class greedy NMS: sort by score desc, drop a box whose IoU with a kept box "
                        "of its class is > 0.45; IoU = inter/(areaA+areaB-inter), no +1) -> clip x to "
                        "[0,W], y to [0,H] -> sort by confidence desc",
            "conf": CONF, "iou": IOU,
        },
    })
    if timing:
        meta["forward_time"] = forward_time(net, x, out_names)
        ft = meta["forward_time"]
        print(f"  forward time (416x416, {ft['cv2_threads']} threads): median {ft['median_ms']} ms "
              f"(min {ft['min_ms']}, max {ft['max_ms']}; medians of {len(ft['round_medians_ms'])} rounds "
              f"{ft['round_medians_ms']}) on {ft['cpu']}")
    write_json(V3_DIR / "meta.json", meta)


# --------------------------------------------------------------------------- part 2: tiny-v4
def make_tiny_v4_weights(cfg: Path, out: Path, seed: int = 20240401) -> dict:
    """Darknet weights with a seeded RNG: header (0,2,5,seen=0 int64), then per conv in cfg order:
    biases, [scales, rolling_mean, rolling_variance if batch_normalize], weights[F, C/groups, k, k]."""
    rng = np.random.default_rng(seed)
    net_opts, layers = parse_cfg(cfg.read_text())
    c = int(net_opts["channels"])
    channels = []
    chunks = [struct.pack("<iiiq", 0, 2, 5, 0)]
    n_floats = 0
    for i, l in enumerate(layers):
        t = l["type"]
        if t == "convolutional":
            f, k, g = int(l["filters"]), int(l["size"]), int(l.get("groups", 1))
            fan_in = (c // g) * k * k
            bn = int(l.get("batch_normalize", 0))
            if bn:
                bias = rng.uniform(-0.1, 0.1, f)
                scale = rng.uniform(0.8, 1.2, f)
                mean = rng.normal(0.0, 0.05, f)
                var = rng.uniform(0.5, 1.5, f)
                w = rng.normal(0.0, np.sqrt(2.0 / fan_in), (f, c // g, k, k))
                parts = [bias, scale, mean, var, w]
            else:  # final linear conv: logits of moderate size, objectness biased up
                per = f // len(ints(layers[i + 1]["mask"]))
                bias = rng.uniform(-1.0, 1.0, f)
                bias[4::per] += 1.0
                w = rng.normal(0.0, 2.0 / np.sqrt(fan_in), (f, c // g, k, k))
                parts = [bias, w]
            for p in parts:
                a = np.asarray(p, "<f4").ravel()
                chunks.append(a.tobytes())
                n_floats += a.size
            c = f
        elif t == "route":
            idx = [j if j >= 0 else i + j for j in ints(l["layers"])]
            c = sum(channels[j] for j in idx) // int(l.get("groups", 1))
        channels.append(c)
    write_bytes(out, b"".join(chunks))
    return {"seed": seed, "floats": n_floats, "bytes": out.stat().st_size}


def make_tiny_v4_input(seed: int = 7, size: int = 96) -> np.ndarray:
    """Smooth-ish RGB test pattern: low-frequency sinusoids per channel + small noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    img = np.empty((size, size, 3))
    for ch in range(3):
        fx, fy = rng.uniform(0.5, 3.0, 2)
        px, py = rng.uniform(0, 2 * np.pi, 2)
        img[..., ch] = 0.5 + 0.3 * np.sin(2 * np.pi * fx * xx + px) * np.cos(2 * np.pi * fy * yy + py)
        img[..., ch] += 0.15 * np.sin(2 * np.pi * (xx + yy) * (ch + 1) + px)
    img += rng.normal(0, 0.04, img.shape)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def tiny_v4() -> None:
    print("== tiny-v4 ->", rel(V4_DIR))
    cfg, weights = V4_DIR / "tiny-v4.cfg", V4_DIR / "tiny-v4.weights"
    winfo = make_tiny_v4_weights(cfg, weights)
    print(f"  weights: {winfo['floats']} floats, {winfo['bytes']} bytes (seed {winfo['seed']})")
    rgb = make_tiny_v4_input()
    write_bytes(V4_DIR / "input_96x96.rgb", rgb.tobytes())
    x = to_tensor(rgb)
    net = make_net(cfg, weights)
    heads, cv_out, outputs, convs, checks = run_fixture(net, cfg, weights, x, V4_DIR, "tiny-v4")
    layer_types = {n: net.getLayer(n).type for n in net.getLayerNames()}
    meta = common_meta()
    meta.update({
        "model": "tiny-v4: hand-written YOLOv4-tiny-topology test network with seeded random weights",
        "cfg": "Tests/Fixtures/tiny-v4/tiny-v4.cfg", "weights": "Tests/Fixtures/tiny-v4/tiny-v4.weights",
        "weights_generation": {
            **winfo,
            "format": "int32 major=0, minor=2, revision=5, int64 seen=0, then per [convolutional] in cfg "
                      "order: biases[F], if batch_normalize: scales[F], rolling_mean[F], "
                      "rolling_variance[F]; then weights[F][C/groups][k][k]; all float32 LE",
            "rng": "numpy.random.default_rng(seed); BN convs: bias U(-0.1,0.1), scale U(0.8,1.2), "
                   "mean N(0,0.05), var U(0.5,1.5), w N(0, sqrt(2/fan_in)); head convs: bias U(-1,1) "
                   "(+1 on objectness), w N(0, 2/sqrt(fan_in))",
        },
        "input": {
            "file": "input_96x96.rgb", "width": 96, "height": 96, "format": "uint8 HWC RGB",
            "source": "seeded synthetic pattern (make_tiny_v4_input, seed 7)",
            "tensor": "float32 NCHW [1,3,96,96], x = Float(byte) / 255, passed with net.setInput",
        },
        "net": {"width": 96, "height": 96, "channels": 3},
        "outputs": outputs,
        "conv_outputs": convs,
        "checks": checks,
        "opencv_layers": layer_types,
        "opencv_support_notes": "OpenCV loads every layer of this cfg: [route] groups/group_id (Slice), "
                                "[shortcut] (Eltwise sum), mish and swish activations, [maxpool] "
                                "size=2 stride=1, [upsample] (nearest Resize), scale_x_y on [yolo].",
    })
    write_json(V4_DIR / "meta.json", meta)


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-timing", action="store_true", help="skip the forward-time measurement")
    ap.add_argument("--timing-only", action="store_true",
                    help="only print OpenCV's yolov3-tiny forward time now (writes nothing)")
    args = ap.parse_args()
    if not hasattr(cv2.dnn, "readNetFromDarknet"):
        print(f"cv2 {cv2.__version__} at {cv2.__file__} has no Darknet importer (OpenCV 5 dropped it).\n"
              "The reference is opencv-python-headless 4.x (fixtures: 4.14.0). Something replaced it\n"
              "(e.g. `pip install ultralytics` pulls opencv-python 5 into the same cv2/ folder). Use a\n"
              "separate venv: python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install\n"
              "'opencv-python-headless==4.14.0.94' 'numpy==2.4.6', then run this script with it.",
              file=sys.stderr)
        return 2
    if args.timing_only:
        net = make_net(MODELS / "yolov3-tiny.cfg", MODELS / "yolov3-tiny.weights")
        rgb = cv2.resize(cv2.cvtColor(cv2.imread(str(MODELS / "samples" / "bus.jpg")), cv2.COLOR_BGR2RGB),
                         (416, 416), interpolation=cv2.INTER_LINEAR)
        print(json.dumps(forward_time(net, to_tensor(rgb), ["yolo_16", "yolo_23"]), indent=2))
        return 0
    print(f"OpenCV {cv2.__version__}, numpy {np.__version__}, repo {ROOT}")
    for p in (MODELS / "yolov3-tiny.cfg", MODELS / "yolov3-tiny.weights", MODELS / "coco.names",
              MODELS / "samples" / "bus.jpg", MODELS / "samples" / "zidane.jpg"):
        if not p.exists():
            print(f"missing {rel(p)}: run scripts/fetch-models.sh", file=sys.stderr)
            return 1
    yolov3_tiny(timing=not args.no_timing)
    tiny_v4()
    print("wrote:")
    for p in WRITTEN:
        print(f"  {rel(p):<55} {p.stat().st_size:>9} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
