#!/usr/bin/env bash
# The README's pruning / low-rank table: `yolo prune` and `yolo compress` on the fall checkpoint and yolov3-tiny at
# several settings, each report printed in full (before/after in one run). Datasets are made from the sample photos
# (never committed): the val set of scripts/reference/val_golden.py and a folder of 60 photos.
#   scripts/compression-sweep.sh [--backend swift|blas] > runs/compression-sweep.txt
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${2:-swift}"
yolo=.build/release/yolo
out=runs/compression
mkdir -p "$out"
[ -f runs/valset/data.yaml ] || .venv/bin/python -c "
import json, sys; sys.path.insert(0, 'scripts/reference'); import val_golden as v
import os; v.materialize(json.load(open('Tests/Fixtures/val/dataset.json')), os.path.abspath('runs/valset'))"
[ -d runs/photos60 ] || .venv/bin/python scripts/make-photo-folder.py 60 --out runs/photos60 >/dev/null
[ -d runs/calib16 ] || .venv/bin/python scripts/make-photo-folder.py 16 --seed 7 --out runs/calib16 >/dev/null  # calibration: other crops
run() { echo "### yolo $*"; { "$yolo" "$@" --backend "$backend" --rounds 5 2>&1 || true; } | grep -v '^  model\.\|^  layers\.' || true; echo; }
for r in 0.1 0.3; do
  run prune --model fall-yolov8s --ratio "$r" --data runs/valset/data.yaml --images runs/photos60 --output "$out/fall-p$r.safetensors"
done
run prune --model fall-yolov8s --ratio 0.3 --method bn --data runs/valset/data.yaml --images runs/photos60 --output "$out/fall-p0.3bn.safetensors"
for e in 0.9 0.8; do
  run compress --model fall-yolov8s --energy "$e" --data runs/valset/data.yaml --images runs/photos60 --output "$out/fall-e$e.safetensors"
done
for e in 0.99 0.98; do
  run compress --model fall-yolov8s --calib runs/calib16 --energy "$e" --data runs/valset/data.yaml --images runs/photos60 --output "$out/fall-c$e.safetensors"
done
for r in 0.1 0.3; do
  run prune --model yolov3-tiny --ratio "$r" --images runs/photos60 --output "$out/v3t-p$r.safetensors"
done
for e in 0.9 0.8; do
  run compress --model yolov3-tiny --energy "$e" --images runs/photos60 --output "$out/v3t-e$e.safetensors"
done
for e in 0.99 0.98; do
  run compress --model yolov3-tiny --calib runs/calib16 --energy "$e" --images runs/photos60 --output "$out/v3t-c$e.safetensors"
done
