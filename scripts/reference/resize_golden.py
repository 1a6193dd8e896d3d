#!/usr/bin/env python3
"""Golden files for uint8 bilinear resize, made with cv2.resize(..., interpolation=cv2.INTER_LINEAR).

Writes Tests/Fixtures/resize/:
  src_37x23.rgb                       seeded random RGB uint8 image, 37 wide x 23 high (HWC, raw)
  dst_64x48.rgb  dst_16x11.rgb        cv2.resize results (HWC RGB raw bytes)
  dst_80x23.rgb  dst_13x50.rgb
  meta.json                           the cases plus OpenCV's per-column / per-row coefficient tables

It also implements OpenCV's uint8 INTER_LINEAR arithmetic in pure numpy (resize_linear_u8 below,
documented in scripts/reference/README.md) and asserts byte-equality with cv2.resize for the four
cases, for bus.jpg and zidane.jpg -> 416x416, for integer up/down factors, 1-pixel edge cases,
1/3/4 channels and a seeded random sweep of sizes.

Usage: .venv/bin/python scripts/reference/resize_golden.py   (deterministic, seeded)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "resize"
SAMPLES = ROOT / "Models" / "samples"
SEED = 3723
SRC_W, SRC_H = 37, 23
CASES = [  # (w, h, kind)
    (64, 48, "upscale both axes"),
    (16, 11, "downscale both axes"),
    (80, 23, "upscale x only (height unchanged)"),
    (13, 50, "mixed: downscale x, upscale y"),
]

COEF_BITS = 11
COEF_SCALE = 1 << COEF_BITS  # 2048


def axis_table(src_len: int, dst_len: int, clamp: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per destination index: source index s and fixed-point weights (w0, w1), as OpenCV computes them.

    scale = 1 / (dst/src) in double; f = float32((d + 0.5) * scale - 0.5); s = floor(f); f = f - s (float32).
    x axis (clamp=True): s < 0 -> (s, f) = (0, 0); s >= src-1 -> (s, f) = (src-1, 0).
    y axis (clamp=False): s and f stay as computed; the two source ROWS are clamped later instead.
    w0 = round_half_even(float32(1 - f) * 2048), w1 = round_half_even(f * 2048).
    """
    scale = 1.0 / (dst_len / src_len)
    s_out = np.empty(dst_len, np.int64)
    w_out = np.empty((dst_len, 2), np.int64)
    one, k = np.float32(1.0), np.float32(COEF_SCALE)
    for d in range(dst_len):
        f = np.float32((d + 0.5) * scale - 0.5)
        s = int(np.floor(f))
        f = np.float32(f - np.float32(s))
        if clamp:
            if s < 0:
                s, f = 0, np.float32(0)
            if s >= src_len - 1:
                s, f = src_len - 1, np.float32(0)
        s_out[d] = s
        w_out[d] = (int(np.rint(np.float32(one - f) * k)), int(np.rint(f * k)))
    return s_out, w_out


def resize_linear_u8(src: np.ndarray, dst_w: int, dst_h: int) -> np.ndarray:
    """Pure-numpy replica of cv2.resize(src, (dst_w, dst_h), interpolation=cv2.INTER_LINEAR), uint8 HWC."""
    if src.ndim == 2:
        return resize_linear_u8(src[..., None], dst_w, dst_h)[..., 0]
    sh, sw, _cn = src.shape
    if (sw, sh) == (dst_w, dst_h):
        return src.copy()  # cv::resize copies; the arithmetic below would give the same bytes anyway
    xs, xw = axis_table(sw, dst_w, clamp=True)
    ys, yw = axis_table(sh, dst_h, clamp=False)
    s = src.astype(np.int64)
    # Horizontal pass (exact int32): H[r, dx, c] = S[r, sx, c]*w0 + S[r, min(sx+1, sw-1), c]*w1
    xs1 = np.minimum(xs + 1, sw - 1)
    hrow = s[:, xs, :] * xw[None, :, 0, None] + s[:, xs1, :] * xw[None, :, 1, None]
    # Vertical pass: rows clamped, OpenCV's 16-bit fixed-point rounding
    r0 = np.clip(ys, 0, sh - 1)
    r1 = np.clip(ys + 1, 0, sh - 1)
    b0 = yw[:, 0, None, None]
    b1 = yw[:, 1, None, None]
    out = (((hrow[r0] >> 4) * b0 >> 16) + ((hrow[r1] >> 4) * b1 >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def check(src: np.ndarray, w: int, h: int, label: str) -> None:
    ref = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
    mine = resize_linear_u8(src, w, h).reshape(ref.shape)
    if not np.array_equal(ref, mine):
        diff = np.argwhere(ref != mine)
        raise AssertionError(f"{label}: numpy replica differs from cv2.resize at {len(diff)} bytes, "
                             f"first {diff[:5].tolist()}")


def main() -> int:
    if not cv2.__version__.startswith("4."):
        print(f"warning: cv2 {cv2.__version__} (fixtures were made with 4.14.0); the byte-equality "
              "checks below still decide whether the arithmetic is the same", file=sys.stderr)
    rng = np.random.default_rng(SEED)
    src = rng.integers(0, 256, (SRC_H, SRC_W, 3), dtype=np.uint8)
    OUT.mkdir(parents=True, exist_ok=True)
    written = []

    def put(name: str, data: bytes) -> None:
        (OUT / name).write_bytes(data)
        written.append(OUT / name)

    put(f"src_{SRC_W}x{SRC_H}.rgb", src.tobytes())
    cases_meta = []
    for w, h, kind in CASES:
        dst = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
        check(src, w, h, f"{SRC_W}x{SRC_H}->{w}x{h}")
        name = f"dst_{w}x{h}.rgb"
        put(name, dst.tobytes())
        xs, xw = axis_table(SRC_W, w, clamp=True)
        ys, yw = axis_table(SRC_H, h, clamp=False)
        cases_meta.append({
            "file": name, "width": w, "height": h, "kind": kind,
            "x_table": [[int(a), int(b), int(c)] for a, (b, c) in zip(xs, xw)],
            "y_table": [[int(a), int(b), int(c)] for a, (b, c) in zip(ys, yw)],
        })
        print(f"  {SRC_W}x{SRC_H} -> {w}x{h} ({kind}): numpy replica == cv2.resize")

    # Extra verification (not written): real photos and a spread of awkward sizes.
    extra = []
    for name in ("bus.jpg", "zidane.jpg"):
        p = SAMPLES / name
        if p.exists():
            img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            check(img, 416, 416, f"{name}->416x416")
            extra.append(f"{name} ({img.shape[1]}x{img.shape[0]}) -> 416x416")
            print(f"  {name} {img.shape[1]}x{img.shape[0]} -> 416x416: numpy replica == cv2.resize")
        else:
            print(f"  (skipping {name}: not fetched, run scripts/fetch-models.sh)")
    fixed = [(36, 36, 12, 12), (48, 48, 12, 12), (120, 120, 12, 12), (40, 24, 20, 12), (40, 23, 20, 23),
             (20, 12, 40, 24), (21, 13, 42, 26), (1, 1, 5, 5), (1, 7, 3, 3), (7, 1, 3, 9), (3, 3, 1, 1),
             (416, 416, 208, 208), (37, 23, 37, 23)]
    for cn in (1, 3, 4):
        for sw, sh, dw, dh in fixed:
            img = rng.integers(0, 256, (sh, sw, cn), dtype=np.uint8)
            check(img if cn > 1 else img[..., 0], dw, dh, f"cn{cn} {sw}x{sh}->{dw}x{dh}")
    n_random = 400
    for i in range(n_random):
        sw, sh = (int(v) for v in rng.integers(1, 80, 2))
        dw, dh = (int(v) for v in rng.integers(1, 160, 2))
        img = rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8)
        check(img, dw, dh, f"random {sw}x{sh}->{dw}x{dh}")
    extra.append(f"{len(fixed)} fixed size pairs x 1/3/4 channels (integer down/up factors, 1-pixel edges, "
                 f"identity) and {n_random} random RGB size pairs (src 1..79, dst 1..159)")
    print(f"  {len(fixed) * 3} fixed edge cases and {n_random} random sizes: numpy replica == cv2.resize")

    meta = {
        "generator": "scripts/reference/resize_golden.py",
        "reference": "cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR), uint8, 3 channels",
        "opencv_version": cv2.__version__,
        "source": {"file": f"src_{SRC_W}x{SRC_H}.rgb", "width": SRC_W, "height": SRC_H,
                   "format": "uint8 HWC RGB, rows top to bottom",
                   "generation": f"numpy.random.default_rng({SEED}).integers(0, 256, (23, 37, 3), uint8)"},
        "cases": cases_meta,
        "tables": "x_table[dx] = [sx, a0, a1] after border clamping; y_table[dy] = [sy, b0, b1] "
                  "UNclamped (sy may be -1 or src_h-1); rows used are clamp(sy) and clamp(sy+1) to "
                  "[0, src_h-1]",
        "arithmetic": {
            "scale": "scale = 1.0 / (Double(dst) / Double(src))",
            "coordinate": "f = Float((Double(d) + 0.5) * scale - 0.5); s = floor(f); f = f - Float(s)",
            "x_border": "if s < 0 { s = 0; f = 0 }; if s >= src_w - 1 { s = src_w - 1; f = 0 }",
            "y_border": "no change to s or f; source rows r0 = clamp(s, 0, src_h-1), r1 = clamp(s+1, 0, src_h-1)",
            "weights": "w0 = Int(((Float(1) - f) * 2048).rounded(.toNearestOrEven)), w1 = Int((f * 2048).rounded(.toNearestOrEven)) (Float32 math)",
            "horizontal": "H[r][dx*cn+c] = S[r][sx*cn+c]*a0 + S[r][min(sx+1, src_w-1)*cn+c]*a1  (Int32, exact)",
            "vertical": "D[dy][i] = clamp0_255((((b0 * (H[r0][i] >> 4)) >> 16) + ((b1 * (H[r1][i] >> 4)) >> 16) + 2) >> 2)",
        },
        "also_verified": extra,
    }
    put("meta.json", (json.dumps(meta, indent=1) + "\n").encode())
    print("wrote:")
    for p in written:
        print(f"  {p.relative_to(ROOT)!s:<40} {p.stat().st_size:>7} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
