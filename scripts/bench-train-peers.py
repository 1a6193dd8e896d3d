#!/usr/bin/env python3
"""Training throughput: `yolo train` against Ultralytics' `yolo train` on the same dataset, model, image size, batch
and CPU threads, run one after the other in this script, each for --epochs epochs without per-epoch validation.

    .venv/bin/python scripts/bench-train-peers.py --data runs/datasets/shapes-64/data.yaml --imgsz 160 --batch 8

Steady images/s come from results.csv's cumulative `time` column of both: (time after epoch 2 - time after epoch 1)
covers one whole training epoch with no setup and no validation (both validate the last epoch only, so at least
3 epochs run). Peak RSS is each whole process's (/usr/bin/time). Mosaic and the other augmentations run as their
defaults in both. --rounds N alternates the two N times (the VM drifts by 30 % over minutes) and prints each round's
ratio and their median. Prints a table and a JSON line.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_images(data_yaml):
    import yaml

    d = yaml.safe_load(open(data_yaml))
    base = d.get("path") or os.path.dirname(os.path.abspath(data_yaml))
    folder = os.path.join(base, d["train"])
    return sum(1 for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png")))


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (exit status, peak RSS MiB, output tail)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + cmd, capture_output=True, text=True, env=env)
        rss = int(open(t.name).read().strip().splitlines()[-1]) / 1024
    return p.returncode, rss, (p.stdout + p.stderr)[-2000:]


def epoch_seconds(results_csv):
    rows = list(csv.DictReader(open(results_csv)))
    times = [float(r[[k for k in r if k.strip() == "time"][0]]) for r in rows]
    return times[1] - times[0]


def run_ours(args, work):
    out_dir = os.path.join(work, "ours")
    shutil.rmtree(out_dir, ignore_errors=True)
    status, rss, tail = timed([args.yolo, "train", "--model", args.model, "--data", args.data, "--epochs", str(args.epochs),
                               "--imgsz", str(args.imgsz), "--batch", str(args.batch), "--workers", str(args.workers),
                               "--threads", str(args.threads), "--no-val", "--no-plots", "--save-dir", out_dir])
    if status != 0:
        sys.exit(f"yolo train failed ({status}):\n{tail}")
    return {"epoch_s": epoch_seconds(os.path.join(out_dir, "results.csv")), "peak_rss_mib": rss}


def run_peer(args, work):
    peer_dir = os.path.join(work, "peer")
    shutil.rmtree(peer_dir, ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    script = (
        "import torch, sys; torch.set_num_threads(%d); from ultralytics import YOLO; "
        "YOLO(sys.argv[1]).train(data=sys.argv[2], epochs=%d, imgsz=%d, batch=%d, workers=%d, device='cpu', val=False, "
        "plots=False, amp=False, project=sys.argv[3], name='run', exist_ok=True, verbose=False)"
        % (args.threads, args.epochs, args.imgsz, args.batch, args.workers)
    )
    status, rss, tail = timed([sys.executable, "-c", script, args.model, os.path.abspath(args.data), peer_dir], env=env)
    if status != 0:
        sys.exit(f"Ultralytics train failed ({status}):\n{tail}")
    return {"epoch_s": epoch_seconds(os.path.join(peer_dir, "run", "results.csv")), "peak_rss_mib": rss}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "Models", "fall-yolov8s.pt"))
    parser.add_argument("--data", required=True)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of ours then Ultralytics; the ratio is each round's, the median printed")
    parser.add_argument("--yolo", default=os.path.join(ROOT, ".build", "release", "yolo"))
    args = parser.parse_args()
    if args.epochs < 3:
        sys.exit("--epochs must be at least 3 (epoch 2 is the one timed)")
    images = train_images(args.data)
    work = tempfile.mkdtemp(prefix="bench-train-")
    rounds = []
    print(f"{images} training images, imgsz {args.imgsz}, batch {args.batch}, {args.threads} threads, {args.workers} workers")
    print(f"{'round':6}{'':14}{'epoch s':>10}{'images/s':>10}{'peak RSS MiB':>14}")
    for r in range(args.rounds):
        out = {"ours": run_ours(args, work), "ultralytics": run_peer(args, work)}
        for k, v in out.items():
            v["images_per_s"] = images / v["epoch_s"]
            print(f"{r + 1:<6}{k:14}{v['epoch_s']:10.1f}{v['images_per_s']:10.2f}{v['peak_rss_mib']:14.0f}")
        out["speed_ratio"] = out["ours"]["images_per_s"] / out["ultralytics"]["images_per_s"]
        print(f"{r + 1:<6}ours / Ultralytics images/s: {out['speed_ratio']:.2f}")
        rounds.append(out)
    ratios = sorted(o["speed_ratio"] for o in rounds)
    median = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
    print(f"median ours / Ultralytics images/s over {len(rounds)} rounds: {median:.2f} (above 1: ours trains faster)")
    print(json.dumps({"images": images, "imgsz": args.imgsz, "batch": args.batch, "threads": args.threads, "rounds": rounds,
                      "median_speed_ratio": median}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
