#!/usr/bin/env python3
"""Forward-pass latency of SwiftYOLO next to its peers, in one run, on the same inputs and thread count.

  yolov3-tiny (Darknet cfg/weights):  SwiftYOLO (blas, swift)  vs  OpenCV DNN (opencv-python-headless<5)
  fall-yolov8s.pt (Ultralytics v8s):  SwiftYOLO (blas, swift)  vs  ONNX Runtime, OpenVINO (f32), PyTorch
                                      (Ultralytics' own fused model); the ONNX file is exported here from
                                      the same checkpoint at the input size SwiftYOLO uses for bus.jpg

SwiftYOLO's figures come from `yolo bench --format json` (run first, by this script); the peers are timed on
the network input only (already resized/letterboxed tensor): warm-up runs, then --runs timed forward calls,
min / median / max. Ratios are ours / theirs on the median (below 1: SwiftYOLO is faster).

Usage (from the repository root, after `swift build -c release -Xswiftc -target-cpu -Xswiftc native`):
  .venv/bin/python scripts/bench-peers.py [--threads 2] [--runs 20] [--warmup 3] [--rounds 1] [--yolo .build/release/yolo] [--json out.json]

Nothing is downloaded (YOLO_OFFLINE=1); the ONNX export (Models/fall-yolov8s-<h>x<w>.onnx, git-ignored) uses
torch.onnx's TorchScript exporter directly, so Ultralytics never tries to install anything.
The machine is what it is: on a shared VM use --rounds (each round times ours and the peers back to back, and the
ratios are taken per round), and say so when you publish figures.
"""
from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "Models"
BUS = MODELS / "samples" / "bus.jpg"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(fn, warmup: int, runs: int) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"min": min(times), "median": statistics.median(times), "max": max(times)}


def ours(yolo: Path, model: str, threads: int, runs: int, warmup: int) -> dict:
    cmd = [str(yolo), "bench", "--model", model, "--threads", str(threads), "--runs", str(runs),
           "--warmup", str(warmup), "--format", "json", "--backend", "both", "--peak-size", "0"]
    print("  $", " ".join(cmd), flush=True)
    # The peers' thread pools (OpenMP, TBB, ORT) spin for a while after their last call; let them go idle first.
    time.sleep(2)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"yolo bench failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)


# --------------------------------------------------------------------------------------------- peers
def opencv_yolov3_tiny(h: int, w: int, threads: int, runs: int, warmup: int) -> dict:
    import cv2
    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromDarknet(str(MODELS / "yolov3-tiny.cfg"), str(MODELS / "yolov3-tiny.weights"))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    blob = cv2.dnn.blobFromImage(cv2.imread(str(BUS)), 1 / 255.0, (w, h), swapRB=True, crop=False)
    net.setInput(blob)
    names = net.getUnconnectedOutLayersNames()
    return {"runtime": f"OpenCV DNN {cv2.__version__}", **timed(lambda: net.forward(names), warmup, runs)}


def letterboxed_bus(h: int, w: int) -> np.ndarray:
    """bus.jpg letterboxed to exactly h×w (Ultralytics LetterBox, gray 114), as a float32 NCHW tensor in [0, 1]."""
    import cv2
    from ultralytics.data.augment import LetterBox
    img = LetterBox((h, w), auto=False, stride=32)(image=cv2.imread(str(BUS)))
    return np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def torch_model(pt: Path):
    from ultralytics import YOLO
    from ultralytics.nn.modules import Detect
    model = YOLO(str(pt)).model.float().eval().fuse()
    return model, Detect


def export_onnx(pt: Path, h: int, w: int) -> Path:
    out = MODELS / f"{pt.stem}-{h}x{w}.onnx"
    if out.exists():
        return out
    import torch
    model, Detect = torch_model(pt)
    for m in model.modules():
        if isinstance(m, Detect):  # what Ultralytics' exporter sets: one [1, 4 + nc, N] output, no loss branches
            m.export, m.format = True, "onnx"
    print(f"  exporting {out.relative_to(ROOT)} (torch.onnx, TorchScript exporter, opset 17)", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, h, w), str(out), dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["output0"])
    return out


def onnxruntime_peer(onnx_path: Path, x: np.ndarray, threads: int, runs: int, warmup: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    y = sess.run(None, {name: x})[0]
    return {"runtime": f"ONNX Runtime {ort.__version__}", **timed(lambda: sess.run(None, {name: x}), warmup, runs)}, y


def openvino_peer(onnx_path: Path, x: np.ndarray, threads: int, runs: int, warmup: int):
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
        "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    y = np.array(request.infer({0: x})[compiled.output(0)])
    version = ov.__version__.split("-")[0]
    return {"runtime": f"OpenVINO {version} (f32)", **timed(lambda: request.infer({0: x}), warmup, runs)}, y


def pytorch_peer(pt: Path, x: np.ndarray, threads: int, runs: int, warmup: int):
    import torch
    import ultralytics
    torch.set_num_threads(threads)
    model, _ = torch_model(pt)
    t = torch.from_numpy(x)
    with torch.inference_mode():
        y = model(t)
        y = (y[0] if isinstance(y, (list, tuple)) else y).numpy()

        def run():
            model(t)
        stats = timed(run, warmup, runs)
    return {"runtime": f"PyTorch {torch.__version__.split('+')[0]} (Ultralytics {ultralytics.__version__})", **stats}, y


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="repeat everything; report the spread of the per-round medians")
    ap.add_argument("--yolo", type=Path, default=Path(os.environ.get("YOLO_BIN", ROOT / ".build" / "release" / "yolo")))
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    args = ap.parse_args()
    if not args.yolo.exists():
        sys.exit(f"{args.yolo}: not found — build first (swift build -c release -Xswiftc -target-cpu -Xswiftc native) or pass --yolo")
    for f in ("yolov3-tiny.cfg", "yolov3-tiny.weights", "fall-yolov8s.pt", "samples/bus.jpg"):
        if not (MODELS / f).exists():
            sys.exit(f"Models/{f} missing: run scripts/fetch-models.sh")

    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(f"bench-peers {date}: {cpu_name()} ({os.cpu_count()} cores), {args.threads} threads, "
          f"{args.runs} runs after {args.warmup} warm-up, {args.rounds} round(s), load average {os.getloadavg()[0]:.2f}", flush=True)

    # Peers are set up once (network load, ONNX export, compile); each round then times ours and theirs back to
    # back for each model, so a change of load on a shared machine hits both sides of a ratio alike.
    import cv2
    cv2.setNumThreads(args.threads)
    pt = MODELS / "fall-yolov8s.pt"
    rounds: list[dict] = []  # per round: {(model, runtime): stats}
    inputs: dict = {}
    peers_v8: dict = {}
    bench_json: dict = {}
    for r in range(args.rounds):
        if args.rounds > 1:
            print(f"round {r + 1}/{args.rounds}", flush=True)
        got: dict = {}
        # yolov3-tiny
        v3 = ours(args.yolo, "yolov3-tiny", args.threads, args.runs, args.warmup)
        bench_json.setdefault("yolov3-tiny", []).append(v3)
        h, w = v3["input"]
        inputs["yolov3-tiny"] = (h, w)
        for b in v3["backends"]:
            got[("yolov3-tiny", f"SwiftYOLO {b['backend']}")] = b["forward_ms"]
        try:
            res = opencv_yolov3_tiny(h, w, args.threads, args.runs, args.warmup)
            got[("yolov3-tiny", res.pop("runtime"))] = res
        except Exception as e:  # noqa: BLE001 — a missing peer is reported, not fatal
            print(f"  OpenCV DNN skipped: {e}")
        # fall-yolov8s
        v8 = ours(args.yolo, str(pt), args.threads, args.runs, args.warmup)
        bench_json.setdefault("fall-yolov8s", []).append(v8)
        h, w = v8["input"]
        inputs["fall-yolov8s"] = (h, w)
        for b in v8["backends"]:
            got[("fall-yolov8s", f"SwiftYOLO {b['backend']}")] = b["forward_ms"]
        if not peers_v8:
            x = letterboxed_bus(h, w)
            onnx_path = export_onnx(pt, h, w)
            peers_v8 = {"x": x, "onnx": onnx_path}
        outputs = {}
        for name, peer, source in (("onnxruntime", onnxruntime_peer, peers_v8["onnx"]), ("openvino", openvino_peer, peers_v8["onnx"]),
                                   ("pytorch", pytorch_peer, pt)):
            try:
                res, y = peer(source, peers_v8["x"], args.threads, args.runs, args.warmup)
                outputs[name] = y
                got[("fall-yolov8s", res.pop("runtime"))] = res
            except Exception as e:  # noqa: BLE001
                print(f"  {name} skipped: {e}")
        if r == 0 and "pytorch" in outputs:  # the peers run the same network: their raw outputs agree
            for name in ("onnxruntime", "openvino"):
                if name in outputs:
                    d = float(np.abs(outputs[name] - outputs["pytorch"]).max())
                    print(f"  max |{name} − pytorch| raw output: {d:.2e} (boxes in pixels)")
        rounds.append(got)

    # table: per runtime the min / median / max of its per-round medians; ratios per round, then their median
    rows = []
    keys = list(dict.fromkeys(k for got in rounds for k in got))
    print()
    print(f"forward pass, ms ({args.threads} threads; median of {args.runs} runs per round, "
          f"{'min / median / max over ' + str(args.rounds) + ' rounds' if args.rounds > 1 else 'min / median / max of the runs'})")
    print(f"{'model':<21}{'runtime':<40}{'min':>8}{'median':>9}{'max':>9}   ours/theirs: blas  swift")
    for model, runtime in keys:
        per = [got[(model, runtime)] for got in rounds if (model, runtime) in got]
        if args.rounds > 1:
            meds = [p["median"] for p in per]
            stats = {"min": min(meds), "median": statistics.median(meds), "max": max(meds)}
        else:
            stats = dict(per[0])
        h, w = inputs[model]
        row = {"model": model, "input": [h, w], "runtime": runtime, **stats}
        line = f"{model + f' {w}×{h}':<21}{runtime:<40.39}{stats['min']:8.1f}{stats['median']:9.1f}{stats['max']:9.1f}"
        if not runtime.startswith("SwiftYOLO"):
            for backend in ("blas", "swift"):
                ratios = [got[(model, f"SwiftYOLO {backend}")]["median"] / got[(model, runtime)]["median"]
                          for got in rounds if (model, runtime) in got and (model, f"SwiftYOLO {backend}") in got]
                row[f"ratio_{backend}"] = statistics.median(ratios) if ratios else float("nan")
            line += f"   {row['ratio_blas']:17.2f} {row['ratio_swift']:6.2f}"
        rows.append(row)
        print(line)
    print("(ours/theirs below 1: SwiftYOLO is faster)")
    if args.json:
        args.json.write_text(json.dumps({"date": date, "cpu": cpu_name(), "threads": args.threads, "runs": args.runs,
                                         "rounds": args.rounds, "rows": rows, "yolo_bench": bench_json}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
