#!/usr/bin/env python3
"""Cold start of `yolo detect`: whole-process wall time and peak RSS, as /usr/bin/time reports them.

Each run is a fresh process (`yolo detect --model M Models/samples/bus.jpg`, output discarded); the models are
measured in alternation, so a burst of load elsewhere hits all of them alike. Reports per model the median, min
and max wall time and the median peak RSS (ru_maxrss of that child, from wait4), against the issue's targets.

    python3 scripts/bench-cold.py [--runs 7] [--model yolov3-tiny.cfg ...] [--json out.json]

Needs nothing but Python 3 and a built binary (`YOLO_BIN` or .build/release/yolo). The page cache is warm after
the first run (the first one of each model is discarded), which is what a user running detect twice sees.
"""
import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The targets: (seconds, MiB).
TARGETS = {"yolov3-tiny.cfg": (0.15, 120), "fall-yolov8s.pt": (0.30, 180)}


def run_once(yolo: Path, model: Path, image: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `yolo detect` process."""
    start = time.perf_counter()
    child = subprocess.Popen([str(yolo), "detect", "--model", str(model), str(image)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{model}: yolo detect failed ({child.returncode}): {child.stderr.read().decode().strip()}")
    return wall, usage.ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--model", action="append", help="a file under Models/ (default: yolov3-tiny.cfg, fall-yolov8s.pt)")
    ap.add_argument("--image", type=Path, default=ROOT / "Models" / "samples" / "bus.jpg")
    ap.add_argument("--yolo", type=Path, default=Path(os.environ.get("YOLO_BIN", ROOT / ".build" / "release" / "yolo")))
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    models = args.model or list(TARGETS)
    paths = {m: ROOT / "Models" / m for m in models}
    for m, p in paths.items():
        if not p.exists():
            raise SystemExit(f"{p}: not found (scripts/fetch-models.sh fetches the project's models)")
    for m in models:  # warm the page cache; not counted
        run_once(args.yolo, paths[m], args.image)
    walls = {m: [] for m in models}
    rss = {m: [] for m in models}
    for _ in range(args.runs):
        for m in models:
            w, r = run_once(args.yolo, paths[m], args.image)
            walls[m].append(w)
            rss[m].append(r)
    load = os.getloadavg()[0]
    print(f"cold `yolo detect --model M {args.image.name}`, {args.runs} runs each, alternating; load average {load:.2f}")
    print(f"{'model':<20} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}   target")
    figures = {}
    for m in models:
        med, rmed = statistics.median(walls[m]), statistics.median(rss[m])
        target = TARGETS.get(m)
        verdict = ""
        if target:
            verdict = f"≤ {target[0]} s and ≤ {target[1]} MiB: time {'met' if med <= target[0] else 'missed'}, memory {'met' if rmed <= target[1] else 'missed'}"
        print(f"{m:<20} {med:>9.3f} {min(walls[m]):>7.3f} {max(walls[m]):>7.3f} {rmed:>13.1f}   {verdict}")
        figures[m] = {"wall_s": walls[m], "peak_rss_mib": rss[m], "median_s": med, "median_peak_rss_mib": rmed}
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "runs": args.runs, "models": figures}, indent=2))


if __name__ == "__main__":
    main()
