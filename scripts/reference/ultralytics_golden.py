#!/usr/bin/env python3
"""Golden files for the Ultralytics (.pt) path, made with Ultralytics + PyTorch (the reference implementation).

Writes Tests/Fixtures/ultralytics/ (see scripts/reference/README.md, section 4):
  input_256x320.png                      seeded synthetic RGB image, the input of every tiny checkpoint
  yolov8-tiny.pt, yolo11-tiny.pt, yolo26-tiny.pt
                                         real Ultralytics checkpoints (fp16, strip_optimizer layout) of the
                                         official yolov8n / yolo11n / yolo26n yamls, nc=3, width multiple
                                         1/32, seeded random weights, randomized BatchNorm statistics
  <name>_out.f32                         eval-mode head output of the fp32 model on input_256x320.png
  yolo26-tiny_one2one.f32                yolo26: one-to-one branch decoded, before top-k
  yolo26-tiny_one2many.f32               yolo26: one-to-many branch decoded (what 8.4.190 runs by default)
  psablock_heads2.pt / _in.f32 / _out.f32
                                         a stand-alone 2-head PSABlock (multi-head attention layout check)
  fall_detections_bus.json, fall_detections_zidane.json
                                         Models/fall-yolov8s.pt predict() results in original pixels
  fall_input_bus.png, fall_out_bus.f32   the letterboxed network input predict() used, and the raw fp32
                                         network output [1, 6, 6300] for exactly that input
  meta.json                              shapes, module lists/trees, head attributes, letterbox numbers,
                                         top-k semantics, self-check results, timing

Self-checks (the script aborts if one fails):
  * every checkpoint reloads with YOLO(path) and predicts;
  * a float64 functional re-implementation of the forward semantics documented in the README (driven only by
    the state_dict and the yaml) reproduces Ultralytics' outputs for all three tiny checkpoints, the 2-head
    PSABlock and the real fall checkpoint;
  * a numpy re-implementation of the YOLO26 top-k reproduces Detect.postprocess;
  * a hand-written letterbox (documented formulas) is byte-identical to LetterBox and to the tensor predict() fed
    the network; a numpy NMS + scale_boxes replica reproduces predict()'s detections.

Usage (from anywhere):  .venv/bin/python scripts/reference/ultralytics_golden.py [--no-timing | --timing-only]
Deterministic: torch.manual_seed / torch.Generator / numpy default_rng with fixed seeds, fixed checkpoint date.
Nothing is downloaded (YOLO_OFFLINE=1, models are built from the yaml files packaged with ultralytics).
"""
from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")  # no DNS probe, no analytics/events, no downloads
os.environ.setdefault("YOLO_VERBOSE", "False")

import argparse  # noqa: E402
import ast  # noqa: E402
import copy  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ultralytics  # noqa: E402
from ultralytics import YOLO  # noqa: E402
from ultralytics.data.augment import LetterBox  # noqa: E402
from ultralytics.nn.modules import Detect  # noqa: E402
from ultralytics.nn.modules.block import DFL, PSABlock  # noqa: E402
from ultralytics.nn.tasks import DetectionModel, load_checkpoint, parse_model, yaml_model_load  # noqa: E402
from ultralytics.utils import DEFAULT_CFG_DICT, DEFAULT_CFG_KEYS, LOGGER  # noqa: E402
from ultralytics.utils.patches import imread  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "Models"
OUT = ROOT / "Tests" / "Fixtures" / "ultralytics"
FALL_PT = MODELS / "fall-yolov8s.pt"
SAMPLES = {"bus": MODELS / "samples" / "bus.jpg", "zidane": MODELS / "samples" / "zidane.jpg"}

THREADS = 2
NC = 3
NAMES = {0: "alpha", 1: "beta", 2: "gamma"}
WIDTH = 0.03125  # width multiple replacing the n scale's 0.25 (depth and max_channels of n are kept)
IMG_H, IMG_W = 256, 320
IMAGE_SEED = 20250256
FIXED_DATE = "2025-01-01T00:00:00+00:00"  # fixed so that reruns write byte-identical checkpoints
ARCHS = [  # (fixture name, packaged yaml, seed)
    ("yolov8-tiny", "yolov8n.yaml", 8),
    ("yolo11-tiny", "yolo11n.yaml", 11),
    ("yolo26-tiny", "yolo26n.yaml", 26),
]
# weight-calibration targets (std of each conv's pre-BN output on the fixture input, see randomize())
BOX_STD = {16: 2.0, 1: 0.6}  # final box conv (DFL logits / YOLO26 raw distances)
CLS_STD, CLS_BIAS_MEAN, CLS_BIAS_STD = 1.0, -2.5, 0.5
FALL_KW = dict(conf=0.25, iou=0.7, imgsz=640, max_det=300, device="cpu", verbose=False)

WRITTEN: list[Path] = []
CHECKS: dict[str, object] = {}


# --------------------------------------------------------------------------- small helpers
def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def note(path: Path) -> None:
    WRITTEN.append(path)


def write_f32(path: Path, t: torch.Tensor) -> dict:
    a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
    path.write_bytes(a.tobytes())
    note(path)
    return {"file": path.name, "shape": list(a.shape), "dtype": "float32 LE", "bytes": a.nbytes}


def write_png_rgb(path: Path, rgb: np.ndarray) -> None:
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))  # cv2 wants BGR
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back is not None and back.shape == rgb.shape and np.array_equal(back[..., ::-1], rgb), path
    note(path)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """NCHW float32, x[0][c][y][x] = float(byte[y][x][c]) / 255 (float32 division, like predictor.preprocess)."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].contiguous().float().div_(255)


def check(name: str, value: float, limit: float) -> float:
    ok = value <= limit
    CHECKS[name] = {"max_abs_err": value, "limit": limit, "ok": ok}
    print(f"  check {name}: {value:.3g} (limit {limit:.3g}) {'ok' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit(f"self-check failed: {name}")
    return value


def short_type(m: torch.nn.Module) -> str:
    return type(m).__name__


# --------------------------------------------------------------------------- synthetic input image
def make_input_image() -> np.ndarray:
    """256x320 RGB: smooth sinusoid/gradient background, a few flat 'objects', Gaussian noise (sigma 6)."""
    rng = np.random.default_rng(IMAGE_SEED)
    y, x = np.mgrid[0:IMG_H, 0:IMG_W].astype(np.float64)
    r = 120 + 80 * np.sin(2 * np.pi * x / 97 + 0.4) * np.cos(2 * np.pi * y / 71)
    g = 110 + 90 * np.sin(2 * np.pi * (x + 2 * y) / 173 + 1.1)
    b = 40 + 160 * x / (IMG_W - 1) * (0.6 + 0.4 * np.cos(np.pi * y / IMG_H))
    img = np.stack([r, g, b], -1)
    for cy, cx, ry, rx, col in [(70, 90, 30, 45, (230, 40, 40)), (170, 230, 50, 35, (30, 200, 60)),
                                (200, 70, 25, 25, (250, 240, 230))]:
        img[((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1] = col
    img[20:60, 240:300] = (20, 20, 120)
    img += rng.normal(0.0, 6.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- model construction
def tiny_cfg(yaml_name: str) -> dict:
    """The packaged yaml exactly as YOLO('<yaml>') loads it, with nc=3 and the n scale's width multiple replaced."""
    d = yaml_model_load(yaml_name)  # sets d['scale'] = 'n', d['yaml_file'] = yaml_name
    assert d["scale"] == "n", d["scale"]
    d["nc"] = NC
    depth, _, max_ch = d["scales"]["n"]
    d["scales"]["n"] = [depth, WIDTH, max_ch]
    return d


def parse_table(cfg: dict) -> list[dict]:
    """The constructor arguments parse_model() resolves for every layer, captured from its verbose table."""
    lines: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    saved = (LOGGER.handlers[:], LOGGER.level, LOGGER.propagate)
    LOGGER.handlers, LOGGER.propagate = [Grab()], False
    LOGGER.setLevel(logging.INFO)
    try:
        with torch.random.fork_rng():
            parse_model(copy.deepcopy(cfg), ch=3, verbose=True)
    finally:
        LOGGER.handlers, LOGGER.propagate = saved[0], saved[2]
        LOGGER.setLevel(saved[1])
    rx = re.compile(r"^\s*(\d+)\s+(-?\d+|\[[^\]]*\])\s+(\d+)\s+(\d+)\s+(\S+)\s+(\[.*\])\s*$")
    rows = []
    for ln in lines:
        m = rx.match(ln)
        if m:
            rows.append({"i": int(m[1]), "f": ast.literal_eval(m[2]), "n": int(m[3]), "params": int(m[4]),
                         "module": m[5], "args": ast.literal_eval(m[6])})
    assert len(rows) == len(cfg["backbone"]) + len(cfg["head"]), (len(rows), lines[:3])
    return rows


def head_final_convs(det: Detect) -> tuple[set, set]:
    box, cls = set(), set()
    for name in ("cv2", "one2one_cv2"):
        for seq in getattr(det, name, None) or []:
            box.add(id(seq[-1]))
    for name in ("cv3", "one2one_cv3"):
        for seq in getattr(det, name, None) or []:
            cls.add(id(seq[-1]))
    return box, cls


def randomize(model: torch.nn.Module, x: torch.Tensor, gen: torch.Generator, reg_max: int | None) -> None:
    """Seeded random weights that keep activations O(1) and make BN folding matter.

    1. every BatchNorm2d: running_mean ~ N(0, 0.1), running_var ~ U(0.5, 2), weight ~ U(0.5, 1.5), bias ~ N(0, 0.1)
       (eps stays Ultralytics' 1e-3);
    2. every Conv2d weight (not the fixed DFL arange conv) ~ N(0, 1); cls conv biases ~ N(-2.5, 0.5); box conv biases
       keep Ultralytics' bias_init() value 2.0;
    3. one eval forward on the fixture input with hooks that rescale each conv's weight so that its output (bias
       excluded) has std 1 (body), BOX_STD (final box convs) or CLS_STD (final cls convs). Convs are linear, so the
       rescaled output is exactly what the rescaled weight produces, and later layers see calibrated inputs.
    """
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            bn.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            bn.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            bn.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    fixed = {id(m.conv) for m in model.modules() if isinstance(m, DFL)}
    convs = [c for c in model.modules() if isinstance(c, torch.nn.Conv2d) and id(c) not in fixed]
    for c in convs:
        c.weight.data.copy_(torch.randn(c.weight.shape, generator=gen))
    box_ids, cls_ids = set(), set()
    dets = [m for m in model.modules() if isinstance(m, Detect)]
    for det in dets:
        box_ids, cls_ids = head_final_convs(det)
        for h in ("cv3", "one2one_cv3"):
            for seq in getattr(det, h, None) or []:
                seq[-1].bias.data.copy_(torch.randn(seq[-1].bias.shape, generator=gen) * CLS_BIAS_STD + CLS_BIAS_MEAN)

    def hook(mod, inp, out):
        b = mod.bias.view(1, -1, 1, 1) if mod.bias is not None else 0.0
        target = BOX_STD[reg_max] if id(mod) in box_ids else CLS_STD if id(mod) in cls_ids else 1.0
        s = float((out - b).std()) / target
        mod.weight.data /= s
        return (out - b) / s + b

    handles = [c.register_forward_hook(hook) for c in convs]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()


def save_checkpoint(model: DetectionModel, path: Path, yaml_name: str) -> None:
    """The dict layout strip_optimizer() writes for a finished training run (cf. the real fall-yolov8s.pt)."""
    train_args = {k: v for k, v in {**DEFAULT_CFG_DICT, "task": "detect", "mode": "train", "model": yaml_name,
                                    "imgsz": max(IMG_H, IMG_W)}.items() if k in DEFAULT_CFG_KEYS}
    m = copy.deepcopy(model).eval().half().to(memory_format=torch.contiguous_format)
    m.args = dict(train_args)
    for p in m.parameters():
        p.requires_grad = False
    ckpt = {
        "date": FIXED_DATE,
        "version": ultralytics.__version__,
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "epoch": -1,
        "best_fitness": None,
        "model": m,
        "ema": None,
        "updates": None,
        "optimizer": None,
        "train_args": train_args,
    }
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    path.write_bytes(buf.getvalue())
    note(path)


def pickle_globals(path: Path) -> list[str]:
    """Every GLOBAL (module.name) the checkpoint's data.pkl references, i.e. what an unpickler must resolve."""
    import pickletools
    import zipfile

    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    found = set()
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            found.add(arg.replace(" ", "."))
        assert op.name != "STACK_GLOBAL", "protocol >= 4 pickle, extend pickle_globals()"
    return sorted(found)


# --------------------------------------------------------------------------- module descriptions for meta.json
ATTRS = ("c", "n", "add", "d", "num_heads", "head_dim", "key_dim", "scale", "nc", "nl", "reg_max", "no", "c1",
         "legacy", "export", "format", "dynamic", "shape", "max_det", "agnostic_nms", "xyxy", "inplace")


def jsonable(v):
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, torch.Size):
        return list(v)
    return str(v)


def describe(name: str, m: torch.nn.Module) -> dict:
    e = {"name": name, "type": short_type(m)}
    if isinstance(m, torch.nn.Conv2d):
        e.update(cin=m.in_channels, cout=m.out_channels, k=list(m.kernel_size), s=list(m.stride),
                 p=list(m.padding), g=m.groups, d=list(m.dilation), bias=m.bias is not None)
    elif isinstance(m, torch.nn.BatchNorm2d):
        e.update(c=m.num_features, eps=m.eps)
    elif isinstance(m, torch.nn.MaxPool2d):
        e.update(k=m.kernel_size, s=m.stride, p=m.padding)
    elif isinstance(m, torch.nn.Upsample):
        e.update(scale_factor=m.scale_factor, mode=m.mode)
    elif isinstance(m, (torch.nn.SiLU, torch.nn.Identity, torch.nn.Sequential, torch.nn.ModuleList)):
        pass
    else:
        for a in ATTRS:
            if hasattr(m, a) and not callable(getattr(m, a)):
                e[a] = jsonable(getattr(m, a))
        if isinstance(m, Detect):
            e["stride"] = jsonable(m.stride)
            e["end2end"] = bool(m.end2end)
            e["has_one2one_branch"] = getattr(m, "one2one_cv2", None) is not None
            e["legacy_cls_branch"] = isinstance(m.cv3[0][0], torch.nn.Module) and short_type(m.cv3[0][0]) == "Conv"
    return e


def module_list(model: DetectionModel, table: list[dict]) -> list[dict]:
    rows = []
    for m, t in zip(model.model, table):
        assert m.i == t["i"] and m.f == t["f"]
        r = {"i": m.i, "type": m.type.split(".")[-1], "f": m.f, "n": t["n"], "args": t["args"],
             "params": t["params"]}
        d = describe(f"model.{m.i}", m)
        r["attrs"] = {k: v for k, v in d.items() if k not in ("name", "type")}
        if r["type"] == "C3k2":
            blk = m.m[0]
            r["attrs"]["block"] = ("Bottleneck+PSABlock" if isinstance(blk, torch.nn.Sequential)
                                   else short_type(blk))
            r["attrs"]["c3k"] = short_type(blk) == "C3k"
            r["attrs"]["attn"] = isinstance(blk, torch.nn.Sequential)
            r["attrs"]["blocks"] = len(m.m)
        if r["type"] == "C2f":
            r["attrs"]["blocks"] = len(m.m)
            r["attrs"]["shortcut"] = bool(m.m[0].add)
        if r["type"] == "SPPF":
            r["attrs"].update(k=m.m.kernel_size, n=getattr(m, "n", 3), add=getattr(m, "add", False),
                              cv1_act=short_type(m.cv1.act), cv2_act=short_type(m.cv2.act))
        if r["type"] == "C2PSA":
            a = m.m[0].attn
            r["attrs"].update(blocks=len(m.m), num_heads=a.num_heads, head_dim=a.head_dim, key_dim=a.key_dim,
                              attn_scale=a.scale)
        if r["type"] == "Conv":
            r["attrs"].update(cin=m.conv.in_channels, cout=m.conv.out_channels, k=m.conv.kernel_size[0],
                              s=m.conv.stride[0], p=m.conv.padding[0], act=short_type(m.act))
        rows.append(r)
    return rows


def module_tree(model: DetectionModel) -> list[dict]:
    return [describe(n, m) for n, m in model.named_modules() if n]


# --------------------------------------------------------------------------- float64 functional reference
class Ref:
    """Float64 re-implementation of the forward semantics written in README section 4.3.

    Reads only the state_dict (by Ultralytics' parameter names) and the yaml layer list; block variants (number of
    bottlenecks, C3k / attention blocks, legacy cls branch) are inferred from which parameter names exist.
    """

    def __init__(self, sd: dict, eps: float = 1e-3):
        self.sd = {k: v.double() for k, v in sd.items() if v.is_floating_point()}
        self.eps = eps

    def has(self, k):
        return k in self.sd

    def conv(self, p, x, s=1, act=True):
        w = self.sd[p + ".conv.weight"]
        k = w.shape[-1]
        y = F.conv2d(x, w, None, s, k // 2, 1, x.shape[1] // w.shape[1])
        mu, var = self.sd[p + ".bn.running_mean"], self.sd[p + ".bn.running_var"]
        ga, be = self.sd[p + ".bn.weight"], self.sd[p + ".bn.bias"]
        y = (y - mu[:, None, None]) / torch.sqrt(var[:, None, None] + self.eps) * ga[:, None, None] + be[:, None, None]
        return y * torch.sigmoid(y) if act else y

    def conv2d(self, p, x):  # plain nn.Conv2d with bias (head outputs)
        return F.conv2d(x, self.sd[p + ".weight"], self.sd[p + ".bias"])

    def count(self, p):
        i = 0
        while any(k.startswith(f"{p}.{i}.") for k in self.sd):
            i += 1
        return i

    def bottleneck(self, p, x, shortcut):
        y = self.conv(p + ".cv2", self.conv(p + ".cv1", x))
        return x + y if shortcut and x.shape[1] == y.shape[1] else y

    def c2f(self, p, x, shortcut):
        y = self.conv(p + ".cv1", x)
        c = y.shape[1] // 2
        ys = [y[:, :c], y[:, c:]]
        for j in range(self.count(p + ".m")):
            ys.append(self.bottleneck(f"{p}.m.{j}", ys[-1], shortcut))
        return self.conv(p + ".cv2", torch.cat(ys, 1))

    def c3k(self, p, x):
        a = self.conv(p + ".cv1", x)
        for j in range(self.count(p + ".m")):
            a = self.bottleneck(f"{p}.m.{j}", a, True)
        return self.conv(p + ".cv3", torch.cat([a, self.conv(p + ".cv2", x)], 1))

    def c3k2(self, p, x):
        y = self.conv(p + ".cv1", x)
        c = y.shape[1] // 2
        ys = [y[:, :c], y[:, c:]]
        for j in range(self.count(p + ".m")):
            q = f"{p}.m.{j}"
            if self.has(q + ".cv3.conv.weight"):  # C3k
                ys.append(self.c3k(q, ys[-1]))
            elif self.has(q + ".0.cv1.conv.weight"):  # Bottleneck then PSABlock (attn=True)
                ys.append(self.psablock(q + ".1", self.bottleneck(q + ".0", ys[-1], True)))
            else:
                ys.append(self.bottleneck(q, ys[-1], True))
        return self.conv(p + ".cv2", torch.cat(ys, 1))

    def sppf(self, p, x, k, n, cv1_act, shortcut):
        ys = [self.conv(p + ".cv1", x, act=cv1_act)]
        for _ in range(n):
            ys.append(F.max_pool2d(ys[-1], k, 1, k // 2))
        y = self.conv(p + ".cv2", torch.cat(ys, 1))
        return y + x if shortcut and y.shape[1] == x.shape[1] else y

    def attention(self, p, x, heads):
        B, C, H, W = x.shape
        N = H * W
        hd = C // heads
        kd = int(hd * 0.5)
        qkv = self.conv(p + ".qkv", x, act=False).reshape(B, heads, 2 * kd + hd, N)
        q, k, v = qkv[:, :, :kd], qkv[:, :, kd:2 * kd], qkv[:, :, 2 * kd:]
        attn = torch.softmax((q * kd ** -0.5).transpose(-2, -1) @ k, dim=-1)  # [B, h, N(query), N(key)]
        o = (v @ attn.transpose(-2, -1)).reshape(B, C, H, W)
        o = o + self.conv(p + ".pe", v.reshape(B, C, H, W), act=False)
        return self.conv(p + ".proj", o, act=False)

    def psablock(self, p, x, heads=None):
        heads = heads or max(x.shape[1] // 64, 1)
        x = x + self.attention(p + ".attn", x, heads)
        return x + self.conv(p + ".ffn.1", self.conv(p + ".ffn.0", x), act=False)

    def c2psa(self, p, x):
        y = self.conv(p + ".cv1", x)
        c = y.shape[1] // 2
        a, b = y[:, :c], y[:, c:]
        for j in range(self.count(p + ".m")):
            b = self.psablock(f"{p}.m.{j}", b)
        return self.conv(p + ".cv2", torch.cat([a, b], 1))

    def detect_branch(self, p, feats, box_name, cls_name, reg_max, nc, strides, xywh):
        boxes, scores, anchors, stride_t = [], [], [], []
        for i, f in enumerate(feats):
            b = self.conv(f"{p}.{box_name}.{i}.1", self.conv(f"{p}.{box_name}.{i}.0", f))
            b = self.conv2d(f"{p}.{box_name}.{i}.2", b)
            if self.has(f"{p}.{cls_name}.{i}.0.conv.weight"):  # legacy (v8): Conv3x3, Conv3x3, Conv2d
                c = self.conv(f"{p}.{cls_name}.{i}.1", self.conv(f"{p}.{cls_name}.{i}.0", f))
            else:  # DWConv3x3 -> Conv1x1, DWConv3x3 -> Conv1x1
                c = self.conv(f"{p}.{cls_name}.{i}.0.1", self.conv(f"{p}.{cls_name}.{i}.0.0", f))
                c = self.conv(f"{p}.{cls_name}.{i}.1.1", self.conv(f"{p}.{cls_name}.{i}.1.0", c))
            c = self.conv2d(f"{p}.{cls_name}.{i}.2", c)
            B, _, H, W = f.shape
            boxes.append(b.reshape(B, 4 * reg_max, H * W))
            scores.append(c.reshape(B, nc, H * W))
            gy, gx = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5,
                                    torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
            anchors.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], 0))  # [2, H*W], row-major cells
            stride_t.append(torch.full((H * W,), float(strides[i]), dtype=torch.float64))
        box = torch.cat(boxes, -1)
        B, _, A = box.shape
        if reg_max > 1:  # DFL: softmax over the reg_max bins of each side, expectation of the bin index
            prob = torch.softmax(box.reshape(B, 4, reg_max, A), dim=2)
            dist = (prob * torch.arange(reg_max, dtype=torch.float64)[None, None, :, None]).sum(2)
        else:
            dist = box
        anc = torch.cat(anchors, -1)[None]
        st = torch.cat(stride_t)[None, None]
        x1y1, x2y2 = anc - dist[:, :2], anc + dist[:, 2:]
        out = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1] if xywh else [x1y1, x2y2], 1) * st
        return torch.cat([out, torch.sigmoid(torch.cat(scores, -1))], 1)

    def forward(self, yaml: dict, x: torch.Tensor, strides, one2one: bool = False):
        ys = []
        layers = yaml["backbone"] + yaml["head"]
        det_p = None
        for i, (f, _n, mname, args) in enumerate(layers):
            p = f"model.{i}"
            inp = ys[f] if isinstance(f, int) and f != -1 else x if f == -1 else [ys[j] if j != -1 else x for j in f]
            if mname == "Conv":
                x = self.conv(p, inp, s=args[2] if len(args) > 2 else 1)
            elif mname == "C2f":
                x = self.c2f(p, inp, shortcut=bool(args[1]) if len(args) > 1 else False)
            elif mname == "C3k2":
                x = self.c3k2(p, inp)
            elif mname == "SPPF":  # yaml [c2, k] (v8/11) or [c2, k, n, shortcut] (yolo26)
                x = self.sppf(p, inp, k=args[1], n=args[2] if len(args) > 2 else 3, cv1_act=len(args) <= 2,
                              shortcut=bool(args[3]) if len(args) > 3 else False)
            elif mname == "C2PSA":
                x = self.c2psa(p, inp)
            elif mname == "nn.Upsample":
                x = inp.repeat_interleave(2, 2).repeat_interleave(2, 3)
            elif mname == "Concat":
                x = torch.cat(inp, 1)
            elif mname == "Detect":
                det_p, feats = p, inp
                break
            else:
                raise NotImplementedError(mname)
            ys.append(x)
        nc = yaml["nc"]
        reg_max = self.sd[det_p + ".cv2.0.2.weight"].shape[0] // 4
        if one2one:
            return self.detect_branch(det_p, feats, "one2one_cv2", "one2one_cv3", reg_max, nc, strides, xywh=False)
        return self.detect_branch(det_p, feats, "cv2", "cv3", reg_max, nc, strides, xywh=True)


def topk_numpy(pred_bn: np.ndarray, nc: int, max_det: int):
    """YOLO26 top-k as documented: global top-k over all anchor*nc class scores, descending."""
    boxes, scores = pred_bn[:, :4], pred_bn[:, 4:4 + nc]
    k = min(max_det, pred_bn.shape[0])
    flat = scores.reshape(-1)  # index = anchor * nc + class
    order = np.argsort(-flat, kind="stable")[:k]
    anchor, cls = order // nc, order % nc
    return np.concatenate([boxes[anchor], flat[order, None], cls[:, None].astype(np.float32)], 1), anchor, cls


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1.0))


def check_head(name: str, ref: torch.Tensor, y: torch.Tensor) -> dict:
    """Boxes (rows 0-3, pixels) and sigmoid scores (rows 4..) of a [1, 4+nc, N] output, separately."""
    d = (ref.double() - y.double()).abs()
    return {"box_px": check(f"{name} boxes (px)", float(d[:, :4].max()), 0.02),
            "score": check(f"{name} scores", float(d[:, 4:].max()), 1e-4)}


# --------------------------------------------------------------------------- part A
def part_a(rgb: np.ndarray, meta: dict) -> None:
    x = to_tensor(rgb)
    meta["input"] = {"file": "input_256x320.png", "height": IMG_H, "width": IMG_W, "seed": IMAGE_SEED,
                     "tensor": "NCHW float32 [1,3,256,320], x[0][c][y][x] = Float(byte[y][x][c]) / 255, RGB order"}
    meta["checkpoints"] = {}
    for name, yaml_name, seed in ARCHS:
        print(f"[A] {name} from {yaml_name}")
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(1000 + seed)
        cfg = tiny_cfg(yaml_name)
        table = parse_table(cfg)
        model = DetectionModel(copy.deepcopy(cfg), ch=3, nc=NC, verbose=False)
        model.names = dict(NAMES)
        det = model.model[-1]
        randomize(model, x, gen, det.reg_max)
        path = OUT / f"{name}.pt"
        save_checkpoint(model, path, yaml_name)

        # reload exactly like users do
        yolo = YOLO(str(path))
        assert yolo.task == "detect" and yolo.names == NAMES, (yolo.task, yolo.names)
        res = yolo.predict(np.ascontiguousarray(rgb[..., ::-1]), imgsz=max(IMG_H, IMG_W), conf=0.25, device="cpu",
                           verbose=False)
        torch.set_num_threads(THREADS)  # select_device() resets it to cpu_count-1
        n_pred = len(res[0].boxes)
        net, ckpt = load_checkpoint(path)  # fp16 weights upcast to fp32, eval mode, not fused
        net = net.float().eval()
        det = net.model[-1]
        feats = {}
        hk = det.register_forward_hook(lambda m, i, o: feats.__setitem__("x", i[0]))
        with torch.no_grad():
            out = net(x)
        y = out[0]
        entry = {
            "file": path.name, "bytes": path.stat().st_size, "yaml": yaml_name, "seed": seed,
            "scale": "n", "depth_multiple": cfg["scales"]["n"][0], "width_multiple": WIDTH,
            "max_channels": cfg["scales"]["n"][2], "nc": NC, "names": {str(k): v for k, v in NAMES.items()},
            "reg_max": det.reg_max, "stride": det.stride.tolist(),
            "end2end_yaml": cfg.get("end2end"), "head_end2end_after_load": bool(det.end2end),
            "has_one2one_branch": getattr(det, "one2one_cv2", None) is not None,
            "legacy_cls_branch": short_type(det.cv3[0][0]) == "Conv",
            "bn_eps": sorted({m.eps for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}),
            "checkpoint_keys": list(ckpt.keys()), "checkpoint_version": ckpt["version"], "date": ckpt["date"],
            "pickle_globals": pickle_globals(path),
            "model_yaml": net.yaml,
            "head_attrs": {a: jsonable(getattr(det, a)) for a in ("nc", "nl", "reg_max", "no", "legacy", "export",
                                                                   "format", "dynamic", "max_det", "agnostic_nms",
                                                                   "xyxy", "inplace")},
            "predict_smoke_test": {"imgsz": max(IMG_H, IMG_W), "conf": 0.25, "detections": n_pred},
            "modules": module_list(net, table),
            "module_tree": module_tree(net),
        }
        ref = Ref(net.state_dict())
        if not entry["has_one2one_branch"]:
            entry["out"] = write_f32(OUT / f"{name}_out.f32", y)
            entry["out"]["layout"] = ("[1, 4+nc, N]: rows 0-3 = cx, cy, w, h in input pixels (DFL decode), rows 4.. = "
                                      "sigmoid class scores; N = anchors of P3 (row-major), then P4, then P5")
            r = ref.forward(net.yaml, x.double(), det.stride.tolist())
            entry["ref_check_max_abs_err"] = check_head(f"{name} float64 reference vs model(x)", r, y)
        else:
            # default eval forward of 8.4.190: end2end property is False (no _end2end) -> one-to-many branch, xywh
            entry["one2many"] = write_f32(OUT / f"{name}_one2many.f32", y)
            entry["one2many"]["layout"] = ("default eval forward (Detect._end2end unset): one-to-many branch, "
                                           "[1, 4+nc, N], cx,cy,w,h pixels + sigmoid scores (same as v8/11)")
            r = ref.forward(net.yaml, x.double(), det.stride.tolist())
            entry["ref_check_max_abs_err"] = check_head(f"{name} float64 reference vs one2many", r, y)
            net.end2end = True  # what predict(nms=False) does via AutoBackend(end2end=True)
            assert det.end2end
            with torch.no_grad():
                ye, raw = net(x)
            o2o = det._inference(det.forward_head(feats["x"], **det.one2one))  # [1, 4+nc, N], xyxy
            again = det.postprocess(o2o.permute(0, 2, 1))
            assert torch.equal(again, ye), "postprocess(one2one) != forward output"
            _, _, idx = det.get_topk_index(o2o.permute(0, 2, 1)[..., 4:], det.max_det)
            entry["out"] = write_f32(OUT / f"{name}_out.f32", ye)
            entry["out"]["layout"] = ("[1, k, 6], k = min(max_det=300, N): x1, y1, x2, y2 (input pixels), score, "
                                      "class (float); rows sorted by score descending; model.end2end = True")
            entry["one2one"] = write_f32(OUT / f"{name}_one2one.f32", o2o)
            entry["one2one"]["layout"] = ("one-to-one branch before top-k: [1, 4+nc, N], rows 0-3 = x1, y1, x2, y2 "
                                          "in input pixels (NOT xywh), rows 4.. = sigmoid class scores")
            r1 = ref.forward(net.yaml, x.double(), det.stride.tolist(), one2one=True)
            entry["ref_check_one2one_max_abs_err"] = check_head(f"{name} float64 reference vs one2one", r1, o2o)
            mine, anchor, cls = topk_numpy(o2o[0].T.numpy(), NC, det.max_det)
            lab = ye[0, :, 5].numpy().astype(int)
            same = (anchor == idx[0].numpy()) & (cls == lab)
            assert same.all(), f"top-k mismatch at rows {np.nonzero(~same)[0][:10]}"
            assert np.array_equal(mine, ye[0].numpy()), "numpy top-k rows differ"
            flat = np.sort(o2o[0, 4:].T.numpy().reshape(-1))[::-1]
            k = ye.shape[1]
            gaps = -np.diff(flat[:k + 1])
            entry["topk"] = {
                "k": int(k), "N": int(o2o.shape[2]), "nc": NC,
                "anchor_index": anchor.tolist(), "class_index": cls.tolist(),
                "min_gap_between_consecutive_scores_in_top_k_plus_1": float(gaps.min()),
                "score_k": float(flat[k - 1]), "score_k_plus_1": float(flat[k]),
                "rows_with_same_anchor_twice": int(len(anchor) - len(set(anchor.tolist()))),
                "numpy_replica_equal": True,
            }
            net.end2end = False
        hk.remove()
        sc = y[0, 4:4 + NC]
        entry["score_stats"] = {"max": float(sc.max()), "min": float(sc.min()),
                                "fraction_above_0.25": float((sc > 0.25).float().mean())}
        meta["checkpoints"][name] = entry
        print(f"    {path.name}: {entry['bytes']} bytes, out {list(y.shape)}, predict() found {n_pred}")

    # yolo26: what predict() does with default args vs nms=False
    yolo = YOLO(str(OUT / "yolo26-tiny.pt"))
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    r_def = yolo.predict(bgr, imgsz=320, conf=0.25, device="cpu", verbose=False)
    e_def = bool(yolo.predictor.model.end2end)
    r_e2e = yolo.predict(bgr, imgsz=320, conf=0.25, device="cpu", verbose=False, nms=False)
    e_e2e = bool(yolo.predictor.model.end2end)
    torch.set_num_threads(THREADS)
    meta["checkpoints"]["yolo26-tiny"]["predict_modes"] = {
        "default (nms=None)": {"backend_end2end": e_def, "detections": len(r_def[0].boxes)},
        "nms=False": {"backend_end2end": e_e2e, "detections": len(r_e2e[0].boxes)},
    }
    assert not e_def and e_e2e


# --------------------------------------------------------------------------- 2-head PSABlock
def part_psa(meta: dict) -> None:
    print("[A] psablock_heads2")
    torch.manual_seed(4242)
    gen = torch.Generator().manual_seed(4243)
    blk = PSABlock(32, attn_ratio=0.5, num_heads=2)
    for m in blk.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-3  # as initialize_weights() sets in every Ultralytics model
    x = torch.randn(1, 32, 5, 7, generator=gen)
    randomize(blk, x, gen, None)
    sd = {k: (v.float() if v.is_floating_point() else v).clone() for k, v in blk.state_dict().items()}
    path = OUT / "psablock_heads2.pt"
    buf = io.BytesIO()
    torch.save(sd, buf)
    path.write_bytes(buf.getvalue())
    note(path)
    with torch.no_grad():
        y = blk.eval()(x)
    a = blk.attn
    ref = Ref({"p." + k: v for k, v in sd.items()})  # Ref wants a name prefix
    r = ref.psablock("p", x.double(), heads=2)
    check("psablock_heads2 float64 reference (err / max|y|)", rel_err(r, y), 1e-5)
    meta["psablock_heads2"] = {
        "weights": {"file": path.name, "format": "torch.save of a plain state_dict (OrderedDict name -> fp32 tensor)",
                    "keys": {k: list(v.shape) for k, v in sd.items() if v.is_floating_point()}},
        "module": "PSABlock(c=32, attn_ratio=0.5, num_heads=2), BN eps 1e-3",
        "num_heads": a.num_heads, "head_dim": a.head_dim, "key_dim": a.key_dim, "scale": a.scale,
        "input": write_f32(OUT / "psablock_heads2_in.f32", x),
        "output": write_f32(OUT / "psablock_heads2_out.f32", y),
    }


# --------------------------------------------------------------------------- part B
def letterbox_manual(bgr: np.ndarray, new=640, stride=32):
    """The documented LetterBox(auto=True, center=True, scaleup=True) arithmetic, written out."""
    h0, w0 = bgr.shape[:2]
    r = min(new / h0, new / w0)
    nw, nh = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = (new - nw) % stride, (new - nh) % stride
    dw, dh = dw / 2, dh / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = bgr if (w0, h0) == (nw, nh) else cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    params = {"orig_hw": [h0, w0], "ratio": r, "resized_wh": [nw, nh], "pad_left": left, "pad_top": top,
              "pad_right": right, "pad_bottom": bottom, "input_wh": [nw + left + right, nh + top + bottom]}
    return img, params


def nms_numpy(pred: np.ndarray, conf: float, iou: float, max_det: int, max_wh=7680, max_nms=30000):
    """non_max_suppression() for a [4+nc, N] output: best class, conf >, class-offset greedy NMS (IoU >)."""
    p = pred.T
    box = np.concatenate([p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2], 1)
    scores = p[:, 4:]
    cand = scores.max(1) > conf
    box, scores = box[cand], scores[cand]
    cls = scores.argmax(1)
    sc = scores[np.arange(len(cls)), cls]
    keep = sc > conf
    box, sc, cls = box[keep], sc[keep], cls[keep]
    order = np.argsort(-sc, kind="stable")[:max_nms]
    ob = box[order] + (cls[order] * max_wh)[:, None]
    area = (ob[:, 2] - ob[:, 0]) * (ob[:, 3] - ob[:, 1])
    alive = np.ones(len(order), bool)
    kept = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        kept.append(i)
        xx1, yy1 = np.maximum(ob[i, 0], ob[:, 0]), np.maximum(ob[i, 1], ob[:, 1])
        xx2, yy2 = np.minimum(ob[i, 2], ob[:, 2]), np.minimum(ob[i, 3], ob[:, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        alive &= ~(inter / (area[i] + area - inter) > iou)
    sel = order[kept][:max_det]
    return box[sel], sc[sel], cls[sel]


def scale_boxes_numpy(boxes: np.ndarray, in_hw, orig_hw):
    h1, w1 = in_hw
    h0, w0 = orig_hw
    gain = min(h1 / h0, w1 / w0)
    nh, nw = max(round(h0 * gain), 1), max(round(w0 * gain), 1)
    gy, gx = nh / h0, nw / w0
    px, py = round((w1 - nw) / 2 - 0.1), round((h1 - nh) / 2 - 0.1)
    b = boxes.astype(np.float64).copy()
    b[:, [0, 2]] = ((b[:, [0, 2]] - px) / gx).clip(0, w0)
    b[:, [1, 3]] = ((b[:, [1, 3]] - py) / gy).clip(0, h0)
    return b


def detections_json(res, key: str, path: Path) -> dict:
    r = res[0]
    h, w = r.orig_shape
    dets = []
    for b, c, k in zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist()):
        dets.append({"class": int(k), "name": r.names[int(k)], "confidence": c,
                     "box": {"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]}})
    doc = {"image": SAMPLES[key].name, "width": w, "height": h, "conf": FALL_KW["conf"], "iou": FALL_KW["iou"],
           "imgsz": FALL_KW["imgsz"], "max_det": FALL_KW["max_det"], "detections": dets}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    note(path)
    return doc


def part_b(meta: dict, timing: bool) -> None:
    print("[B] fall-yolov8s.pt")
    yolo = YOLO(str(FALL_PT))
    res = yolo.predict(str(SAMPLES["bus"]), **FALL_KW)  # creates the predictor (fuses a deep copy)
    torch.set_num_threads(THREADS)
    pred = yolo.predictor
    cap: dict = {}
    orig_pre, orig_inf = pred.preprocess, pred.inference

    def pre(im):
        t = orig_pre(im)
        cap["x"] = t.detach().clone()
        return t

    def inf(im, *a, **k):
        o = orig_inf(im, *a, **k)
        cap["y"] = (o[0] if isinstance(o, (list, tuple)) else o).detach().clone()
        return o

    pred.preprocess, pred.inference = pre, inf
    docs, lb = {}, {}
    for key in ("bus", "zidane"):
        res = yolo.predict(str(SAMPLES[key]), **FALL_KW)
        bgr = imread(str(SAMPLES[key]))  # what LoadImagesAndVideos reads (cv2.imdecode, BGR)
        ultra = LetterBox((640, 640), auto=True, stride=32)(image=bgr)
        mine, params = letterbox_manual(bgr)
        assert np.array_equal(ultra, mine), f"letterbox replica differs ({key})"
        rgb_lb = np.ascontiguousarray(mine[..., ::-1])
        assert torch.equal(to_tensor(rgb_lb), cap["x"]), f"predict() input differs from LetterBox ({key})"
        lb[key] = params
        docs[key] = detections_json(res, key, OUT / f"fall_detections_{key}.json")
        raw_fused = cap["y"]
        # replicate NMS + scale_boxes on the predictor's own raw output
        b, s, c = nms_numpy(raw_fused[0].numpy(), FALL_KW["conf"], FALL_KW["iou"], FALL_KW["max_det"])
        b = scale_boxes_numpy(b, cap["x"].shape[2:], bgr.shape[:2])
        r = res[0]
        assert len(b) == len(r.boxes), (key, len(b), len(r.boxes))
        if len(b):
            assert np.array_equal(c, r.boxes.cls.numpy().astype(int)), key
            check(f"fall {key} numpy NMS+scale_boxes boxes", float(np.abs(b - r.boxes.xyxy.numpy()).max()), 1e-3)
            check(f"fall {key} numpy NMS confidences", float(np.abs(s - r.boxes.conf.numpy()).max()), 1e-6)
        if key == "bus":
            write_png_rgb(OUT / "fall_input_bus.png", rgb_lb)
            net, ckpt = load_checkpoint(FALL_PT)
            net = net.float().eval()
            with torch.no_grad():
                y = net(cap["x"])[0]
            meta_out = write_f32(OUT / "fall_out_bus.f32", y)
            meta_out["layout"] = ("[1, 6, N], N = 80*60 + 40*30 + 20*15 = 6300 (P3 row-major, then P4, P5): rows 0-3 "
                                  "= cx, cy, w, h in letterboxed-input pixels, rows 4-5 = sigmoid scores Normal, Fall")
            meta_out["max_abs_diff_vs_fused_predict_output"] = float((y - raw_fused).abs().max())
            ref = Ref(net.state_dict())
            ref_err = check_head("fall float64 reference vs model(x)",
                                 ref.forward(net.yaml, cap["x"].double(), net.stride.tolist()), y)
            table = parse_table(copy.deepcopy(net.yaml) | {"scale": None})
            fall_meta = {
                "checkpoint": rel(FALL_PT), "checkpoint_version": ckpt["version"],
                "checkpoint_keys": list(ckpt.keys()), "pickle_globals": pickle_globals(FALL_PT),
                "names": {str(k): v for k, v in net.names.items()}, "stride": net.stride.tolist(),
                "reg_max": net.model[-1].reg_max, "nc": net.model[-1].nc, "model_yaml": net.yaml,
                "bn_eps": sorted({m.eps for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}),
                "legacy_cls_branch": short_type(net.model[-1].cv3[0][0]) == "Conv",
                "modules": module_list(net, table),
                "input": {"file": "fall_input_bus.png", "hw": list(rgb_lb.shape[:2]),
                          "tensor": "x[0][c][y][x] = Float(byte[y][x][c]) / 255 (RGB)"},
                "out": meta_out,
                "predict_args": {k: v for k, v in FALL_KW.items() if k != "verbose"},
                "ref_check_max_abs_err": ref_err,
            }
    fall_meta["letterbox"] = {
        "images": lb,
        "rules": ("r = min(640/h0, 640/w0) (scaleup allowed); resized (w,h) = (max(round(w0*r),1), max(round(h0*r),1)) "
                  "with Python round() (half to even); dw = (640 - w) % 32, dh = (640 - h) % 32 (auto=True, stride "
                  "= max(model stride, 32)); dw /= 2, dh /= 2; top = round(dh - 0.1), bottom = round(dh + 0.1), "
                  "left = round(dw - 0.1), right = round(dw + 0.1); cv2.resize(img, (w,h), INTER_LINEAR) only if "
                  "the size changes; cv2.copyMakeBorder(BORDER_CONSTANT, value 114,114,114); done on the BGR image "
                  "from cv2.imdecode(IMREAD_COLOR), then BGR->RGB and /255 in float32"),
        "interpolation": "cv2.INTER_LINEAR", "border_value": 114,
    }
    fall_meta["detections"] = {k: {"file": f"fall_detections_{k}.json", "count": len(v["detections"])}
                               for k, v in docs.items()}
    pred.preprocess, pred.inference = orig_pre, orig_inf
    if timing:
        fall_meta["timing"] = time_predict(yolo)
    meta["fall"] = fall_meta


LOADAVG = 0.0


def time_predict(yolo, rounds: int = 5, per_round: int = 20) -> dict:
    global LOADAVG
    LOADAVG = os.getloadavg()[0]
    src = str(SAMPLES["bus"])
    torch.set_num_threads(THREADS)
    for _ in range(3):
        yolo.predict(src, **FALL_KW)
    walls, pre, inf, post, round_medians = [], [], [], [], []
    threads = set()
    for _ in range(rounds):
        rw = []
        for _ in range(per_round):
            torch.set_num_threads(THREADS)
            t0 = time.perf_counter()
            r = yolo.predict(src, **FALL_KW)
            rw.append((time.perf_counter() - t0) * 1e3)
            threads.add(torch.get_num_threads())
            pre.append(r[0].speed["preprocess"])
            inf.append(r[0].speed["inference"])
            post.append(r[0].speed["postprocess"])
        walls += rw
        round_medians.append(statistics.median(rw))
    out = {
        "what": "YOLO('Models/fall-yolov8s.pt').predict('Models/samples/bus.jpg', conf=0.25, iou=0.7, imgsz=640, "
                "max_det=300, device='cpu', verbose=False): whole call incl. JPEG decode, after 3 warm-up calls",
        "runs": len(walls), "torch_threads": sorted(threads), "round_medians_ms": round_medians,
        "best_round_median_ms": min(round_medians),
        "load_average_before_after": [LOADAVG, os.getloadavg()[0]],
        "median_predict_ms": statistics.median(walls), "min_predict_ms": min(walls), "max_predict_ms": max(walls),
        "speed_median_ms": {"preprocess": statistics.median(pre), "inference": statistics.median(inf),
                            "postprocess": statistics.median(post)},
        "note": "predictor uses a BN-fused deep copy of the model (AutoBackend fuse=True), fp32, 640x480 input",
    }
    print(f"    predict median {out['median_predict_ms']:.1f} ms (round medians "
          f"{', '.join(f'{v:.1f}' for v in round_medians)}), speed medians "
          + ", ".join(f"{k} {v:.2f} ms" for k, v in out["speed_median_ms"].items()))
    return out


# --------------------------------------------------------------------------- main
TOPK_TEXT = (
    "Detect.forward with end2end: y = postprocess(one2one_decoded.permute(0,2,1)) where one2one_decoded is "
    "[B, 4+nc, N] with x1,y1,x2,y2 (decode_bboxes uses xywh = not end2end). get_topk_index(scores [B,N,nc], max_det): "
    "k = min(max_det, N); (1) ori_index = topk(scores.max(-1), k) over anchors; (2) s = scores gathered at ori_index "
    "([B,k,nc], rows in descending-max order), flattened row-major to [B, k*nc]; topk(k) again -> values, index; "
    "class = index % nc, anchor = ori_index[index // nc]. Output rows: [x1,y1,x2,y2 of that anchor, value, float(class)], "
    "sorted by value descending. This equals the global top-k over all N*nc (anchor, class) scores (an anchor can "
    "appear several times with different classes; no NMS, no threshold inside the model). torch.topk (CPU, "
    "sorted=True) does not define the order of equal values; predict(nms=False) then keeps rows with score > conf "
    "(first max_det rows, head max_det = max(max_det, 300)). agnostic_nms=True instead takes per-anchor max "
    "(argmax class) and a single top-k over anchors. A TensorRT export uses 8 groups for the first top-k (same result)."
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-timing", action="store_true", help="skip the predict() timing of part B")
    ap.add_argument("--timing-only", action="store_true", help="only time predict() on bus.jpg; print, write nothing")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    if args.timing_only:
        yolo = YOLO(str(FALL_PT))
        yolo.predict(str(SAMPLES["bus"]), **FALL_KW)
        print(json.dumps(time_predict(yolo), indent=1))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    meta: dict = {
        "generator": "scripts/reference/ultralytics_golden.py",
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "opencv": cv2.__version__, "python": platform.python_version()},
        "platform": {"machine": platform.machine(), "processor": platform.processor() or None,
                     "cpu_count": os.cpu_count(), "torch_threads": THREADS},
        "binary_format": "*.f32 = raw float32 little-endian, C order of the recorded shape; *.png = 8-bit RGB",
        "yolo26_topk_semantics": TOPK_TEXT,
    }
    rgb = make_input_image()
    write_png_rgb(OUT / "input_256x320.png", rgb)
    part_a(rgb, meta)
    part_psa(meta)
    part_b(meta, timing=not args.no_timing)
    meta["self_checks"] = CHECKS
    path = OUT / "meta.json"
    path.write_text(json.dumps(meta, indent=1) + "\n")
    note(path)
    total = 0
    print("wrote:")
    for p in sorted(set(WRITTEN)):
        total += p.stat().st_size
        print(f"  {rel(p):60s} {p.stat().st_size:>10,d} bytes")
    print(f"  total {total:,d} bytes")


if __name__ == "__main__":
    sys.exit(main())
