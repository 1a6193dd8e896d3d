#!/usr/bin/env python3
"""Batch throughput and memory of `yolo detect` on a folder of photos, beside Ultralytics `yolo predict`.

    swift build -c release -Xswiftc -target-cpu -Xswiftc native   # or: --yolo .build-batch/release/yolo
    .venv/bin/python scripts/bench-batch.py       # writes a Markdown table to stdout

What it measures (wall clock, peak RSS of the process from wait4):
  1. images/s on a folder of --count photos (default 200, made by scripts/make-photo-folder.py) at --threads 2:
     ours (`yolo detect DIR --recursive --save-jsonl`) and Ultralytics (`yolo predict source="DIR/**/*.*"
     save=False`) with the same model family (YOLOv8s: Models/fall-yolov8s.pt), plus ours with yolov3-tiny.
     "end-to-end" divides by the whole command's time (start-up and model loading included); "steady" is
     (count - 10) / (time(count) - time(10)), which cancels the start-up.
  2. our pipeline settings (--decode-threads 0/1/2, --batch 1/2) on the same folder;
  3. peak RSS for 200 and for 2 000 photos with yolov3-tiny (should be about equal: memory does not grow with
     the number of inputs), with the light outputs and with every output (annotated images and crops keep the
     decoded pixels until they are written).
Each figure is the best of --repeat runs (the machine may be shared). Ultralytics runs with YOLO_OFFLINE=1
(nothing is downloaded) on the CPU with 2 torch threads.
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env=None):
    """(seconds, peak RSS in MiB, exit status) of one command, output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"failed ({code}): {' '.join(cmd)}\n{err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, code


def best(cmd, repeat, env=None):
    runs = [run(cmd, env) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def folder(count):
    path = os.path.join(ROOT, "runs", "bench", f"photos-{count}")
    if not os.path.isdir(path):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make-photo-folder.py"), str(count), "--out", path], check=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--yolo", default=os.path.join(ROOT, ".build", "release", "yolo"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rss-counts", default="200,2000", help="photo counts for the memory table ('' to skip it)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-ultralytics", action="store_true")
    parser.add_argument("--skip-variants", action="store_true")
    args = parser.parse_args()

    models = os.environ.get("YOLO_MODELS_DIR", os.path.join(ROOT, "Models"))
    v8s = os.path.join(models, "fall-yolov8s.pt")
    small, big = folder(10), folder(args.count)
    out = tempfile.mkdtemp(prefix="bench-batch-")

    def ours(model, source, *extra):
        save = os.path.join(out, "o")
        shutil.rmtree(save, ignore_errors=True)
        return [args.yolo, "detect", source, "--recursive", "--model", model, "--threads", str(args.threads),
                "--save-dir", save, "--exist-ok", "--save-jsonl", "--quiet", *extra]

    def throughput(make):
        t_small, _ = best(make(small), args.repeat)
        t_big, rss = best(make(big), args.repeat)
        return args.count / t_big, (args.count - 10) / max(t_big - t_small, 1e-9), t_big, rss

    rows = []
    print(f"# {args.count} photos, {args.threads} threads, best of {args.repeat}; {platform.node()}, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}", file=sys.stderr)
    rows.append(("ours, YOLOv8s (fall-yolov8s.pt), imgsz 640", *throughput(lambda d: ours(v8s, d))))
    if not args.skip_ultralytics:
        python_bin = os.path.dirname(sys.executable)
        ultra = os.path.join(python_bin, "yolo")
        env = dict(os.environ, YOLO_OFFLINE="1", OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
                   YOLO_VERBOSE="False", CUDA_VISIBLE_DEVICES="")

        def ultralytics(d):
            return [ultra, "predict", f"model={v8s}", f"source={d}/**/*.*", "save=False", "device=cpu", "verbose=False",
                    f"project={out}", "name=u", "exist_ok=True"]

        t_small, _ = best(ultralytics(small), args.repeat, env)
        t_big, rss = best(ultralytics(big), args.repeat, env)
        rows.append(("Ultralytics 8.4 `yolo predict`, same checkpoint, imgsz 640",
                     args.count / t_big, (args.count - 10) / max(t_big - t_small, 1e-9), t_big, rss))
    rows.append(("ours, yolov3-tiny, 416×416", *throughput(lambda d: ours("yolov3-tiny", d))))
    if not args.skip_variants:
        for extra in (["--decode-threads", "0"], ["--decode-threads", "2"], ["--batch", "2"], ["--batch", "2", "--decode-threads", "2"]):
            rows.append((f"ours, yolov3-tiny, {' '.join(extra)}", *throughput(lambda d, e=extra: ours("yolov3-tiny", d, *e))))

    print("| run | images/s end-to-end | images/s steady | seconds | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, e2e, steady, seconds, rss in rows:
        print(f"| {name} | {e2e:.2f} | {steady:.2f} | {seconds:.1f} | {rss:.0f} |")

    if not args.rss_counts:
        return 0
    print()
    print("| peak RSS MiB | " + " | ".join(f"{n} photos" for n in args.rss_counts.split(",")) + " |")
    print("|---|" + "---:|" * len(args.rss_counts.split(",")))
    for model, label, extra in (("yolov3-tiny", "yolov3-tiny, --save-jsonl --save-txt", []),
                                ("yolov3-tiny", "yolov3-tiny, all outputs incl. --save-image --save-crop",
                                 ["--save-csv", "--save-coco", "--save-image", "--save-crop"])):
        cells = []
        for n in args.rss_counts.split(","):
            _, rss = best(ours(model, folder(int(n)), "--save-txt", *extra), 1)
            cells.append(f"{rss:.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
