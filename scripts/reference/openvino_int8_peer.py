#!/usr/bin/env python3
"""The NNCF-quantized OpenVINO INT8 peer of `yolo quantize`, built reproducibly, timed next to ours in one run.

  1. ONNX export of the checkpoint at the input SwiftYOLO uses for bus.jpg (scripts/bench-peers.py's export).
  2. NNCF post-training quantization of the OpenVINO model, as Ultralytics' INT8 exporter sets it up:
     `nncf.quantize(preset=MIXED, subset_size=<all calibration images>)` with the Sigmoid ops and every op of the
     Detect head (the last top-level layer) in the ignored scope; calibration images letterboxed (gray 114) from
     --calib, the same images `yolo quantize --calib` takes. Saved as runs/<stem>-int8-openvino/ (git-ignored).
  3. Rounds, each back to back on the same letterboxed bus.jpg tensor: `yolo bench` of the fp32 model and of our
     int8 file (--backend blas), OpenVINO f32 and OpenVINO INT8 forward calls; medians, and per-round ratios.
  4. mAP50-95 of the OpenVINO INT8 model on --data (val split) with our own matching: `yolo val --predictions`-free,
     the boxes decoded and NMS'd by Ultralytics' ops at val settings (conf 0.001, iou 0.7), at the 640×640 square
     input (a second INT8 model at 640×640 is quantized for it), printed next to `yolo val` of the fp32 and int8 files.

Needs `nncf` in the venv (`.venv/bin/pip install nncf`; not in setup-venv.sh's list).

    .venv/bin/python scripts/reference/openvino_int8_peer.py --int8 fall-yolov8s-int8.safetensors \
        --calib runs/valset/data.yaml --data runs/valset/data.yaml [--threads 2] [--runs 10] [--rounds 3]
"""
from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "scripts" / "bench-peers.py")
peers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peers)


def calibration_images(source: str, count: int) -> list[Path]:
    """The first `count` images (sorted) of a folder, or of a dataset yaml's train split."""
    p = Path(source)
    if p.suffix in (".yaml", ".yml"):
        import yaml
        cfg = yaml.safe_load(p.read_text())
        base = Path(cfg.get("path", p.parent))
        folder = base / cfg["train"]
    else:
        folder = p
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return files[:count]


def letterbox(path: Path, h: int, w: int) -> np.ndarray:
    import cv2
    from ultralytics.data.augment import LetterBox
    img = LetterBox((h, w), auto=False, stride=32)(image=cv2.imread(str(path)))
    return np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def quantize_openvino(onnx_path: Path, images: list[Path], h: int, w: int, out_dir: Path):
    import nncf
    import openvino as ov
    core = ov.Core()
    model = core.read_model(str(onnx_path))
    ops = model.get_ordered_ops()
    heads = sorted({op.get_friendly_name().split("/")[1] for op in ops if op.get_friendly_name().startswith("/model.")},
                   key=lambda s: int(s.split(".")[1]))
    head = heads[-1]  # the Detect layer, e.g. model.22
    ignored = [op.get_friendly_name() for op in ops
               if op.get_type_name() == "Sigmoid" or op.get_friendly_name().startswith(f"/{head}/")]
    data = [letterbox(p, h, w) for p in images]
    quantized = nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED, subset_size=len(data),
                              ignored_scope=nncf.IgnoredScope(names=ignored))
    out_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_dir / "model.xml"))
    return quantized, len(ignored)


def compile_model(model, threads: int, precision: str):
    import openvino as ov
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                  "INFERENCE_PRECISION_HINT": precision, "NUM_STREAMS": 1})


def yolo_bench(yolo: Path, model: str, threads: int, runs: int, warmup: int) -> dict:
    cmd = [str(yolo), "bench", "--model", model, "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup),
           "--format", "json", "--backend", "blas", "--peak-size", "0"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"yolo bench failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)


def openvino_map(compiled, data_yaml: str, names: int) -> float:
    """mAP50-95 of an OpenVINO model (fixed 640×640 input) on the val split, with Ultralytics' metrics code."""
    import cv2
    import torch
    import yaml
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils import ops
    from ultralytics.utils.nms import non_max_suppression
    from ultralytics.utils.metrics import DetMetrics, box_iou
    cfg = yaml.safe_load(Path(data_yaml).read_text())
    base = Path(cfg.get("path", Path(data_yaml).parent))
    images = sorted(f for f in (base / cfg["val"]).rglob("*") if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
    iouv = torch.linspace(0.5, 0.95, 10)
    stats = {"tp": [], "conf": [], "pred_cls": [], "target_cls": [], "target_img": []}
    request = compiled.create_infer_request()
    for f in images:
        im0 = cv2.imread(str(f))
        h0, w0 = im0.shape[:2]
        img = LetterBox((640, 640), auto=False, stride=32)(image=im0)
        x = np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        y = torch.from_numpy(np.array(request.infer({0: x})[compiled.output(0)]))
        det = non_max_suppression(y, conf_thres=0.001, iou_thres=0.7, multi_label=True, max_det=300)[0]
        det[:, :4] = ops.scale_boxes((640, 640), det[:, :4], (h0, w0))
        label_file = Path(str(f).replace("/images/", "/labels/")).with_suffix(".txt")
        rows = [list(map(float, l.split())) for l in label_file.read_text().splitlines() if l.strip()] if label_file.exists() else []
        rows = [r for r in rows if len(r) == 5 and int(r[0]) < names]  # box lines only; other lines are left out here
        labels = torch.tensor(rows).reshape(-1, 5)
        cls = labels[:, 0]
        boxes = ops.xywh2xyxy(labels[:, 1:5]) * torch.tensor([w0, h0, w0, h0])
        tp = torch.zeros(len(det), 10, dtype=torch.bool)
        if len(det) and len(labels):
            iou = box_iou(boxes, det[:, :4])
            correct = (cls[:, None] == det[:, 5][None])
            iou = iou * correct
            for i, t in enumerate(iouv):  # one-to-one by descending IoU, as Ultralytics' match_predictions
                m = np.nonzero((iou >= t).numpy())
                if m[0].shape[0]:
                    matches = np.stack(m, 1)
                    v = iou.numpy()[m]
                    matches = matches[v.argsort()[::-1]]
                    matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
                    matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
                    tp[matches[:, 1], i] = True
        stats["tp"].append(tp.numpy())
        stats["conf"].append(det[:, 4].numpy())
        stats["pred_cls"].append(det[:, 5].numpy())
        stats["target_cls"].append(cls.numpy())
        stats["target_img"].append(np.unique(cls.numpy()))
    metrics = DetMetrics(names={i: str(i) for i in range(names)})
    metrics.stats = {k: stats[k] for k in stats}
    metrics.process()
    return float(metrics.box.map), len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(peers.MODELS / "fall-yolov8s.pt"))
    ap.add_argument("--int8", required=True, help="our int8 file (yolo quantize)")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--data", help="dataset yaml: mAP50-95 of the OpenVINO INT8 model and of ours (yolo val)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-timing", dest="timing", action="store_false", help="only the mAP part (with --data)")
    ap.add_argument("--yolo", type=Path, default=ROOT / ".build" / "release" / "yolo")
    args = ap.parse_args()
    import nncf
    import openvino as ov

    pt = Path(args.model)
    ours_int8 = yolo_bench(args.yolo, args.int8, args.threads, 1, 1)
    h, w = ours_int8["input"]
    images = calibration_images(args.calib, args.images)
    onnx_path = peers.export_onnx(pt, h, w)
    print(f"NNCF {nncf.__version__}, OpenVINO {ov.__version__.split('-')[0]}: quantizing {onnx_path.name} on {len(images)} images", flush=True)
    if args.timing:
        int8_model, ignored = quantize_openvino(onnx_path, images, h, w, ROOT / "runs" / f"{pt.stem}-int8-openvino")
        print(f"  {ignored} ops in the ignored scope (Sigmoid + the Detect head)")
        x = peers.letterboxed_bus(h, w)
        f32 = compile_model(ov.Core().read_model(str(onnx_path)), args.threads, "f32")
        i8 = compile_model(int8_model, args.threads, "f32")
        rows: dict[str, list[float]] = {}
        for r in range(args.rounds):
            got = {
                "SwiftYOLO fp32 (blas)": yolo_bench(args.yolo, str(pt), args.threads, args.runs, args.warmup)["backends"][0]["forward_ms"]["median"],
                "SwiftYOLO int8": yolo_bench(args.yolo, args.int8, args.threads, args.runs, args.warmup)["backends"][0]["forward_ms"]["median"],
            }
            for name, compiled in (("OpenVINO f32", f32), ("OpenVINO INT8 (NNCF, mixed)", i8)):
                request = compiled.create_infer_request()
                got[name] = peers.timed(lambda: request.infer({0: x}), args.warmup, args.runs)["median"]
            print(f"round {r + 1}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in got.items()), flush=True)
            for k, v in got.items():
                rows.setdefault(k, []).append(v)
        print(f"\nforward ms at {w}×{h}, {args.threads} threads, median of per-round medians ({args.rounds} rounds):")
        for k, v in rows.items():
            print(f"  {k:32s} {statistics.median(v):8.1f}")
        ratios = [a / b for a, b in zip(rows["SwiftYOLO int8"], rows["OpenVINO INT8 (NNCF, mixed)"])]
        print(f"  ours int8 / OpenVINO INT8: {statistics.median(ratios):.2f} (per-round median); "
              f"ours int8 / ours fp32: {statistics.median(a / b for a, b in zip(rows['SwiftYOLO int8'], rows['SwiftYOLO fp32 (blas)'])):.2f}")
    if args.data:
        onnx640 = peers.export_onnx(pt, 640, 640)
        square, _ = quantize_openvino(onnx640, images, 640, 640, ROOT / "runs" / f"{pt.stem}-int8-openvino-640")
        names = len(__import__("ultralytics").YOLO(str(pt)).names)
        m_f32, n = openvino_map(compile_model(ov.Core().read_model(str(onnx640)), args.threads, "f32"), args.data, names)
        m_i8, _ = openvino_map(compile_model(square, args.threads, "f32"), args.data, names)
        print(f"\nmAP50-95 on {args.data} ({n} images, 640×640 square input): OpenVINO f32 {m_f32:.4f}, OpenVINO INT8 {m_i8:.4f} "
              f"({m_i8 - m_f32:+.4f})")
        for model in (str(pt), args.int8):
            out = subprocess.run([str(args.yolo), "val", "--model", model, "--data", args.data, "--threads", str(args.threads)],
                                 cwd=ROOT, capture_output=True, text=True)
            line = next((l for l in out.stdout.splitlines() if l.strip().startswith("all")), out.stdout.strip()[-200:])
            print(f"  yolo val {Path(model).name}: {line.strip()}")


if __name__ == "__main__":
    main()
