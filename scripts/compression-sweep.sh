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
for r in 0.1 0.3; do
  run prune --model yolov3-tiny --ratio "$r" --images runs/photos60 --output "$out/v3t-p$r.safetensors"
done
for e in 0.9 0.8; do
  run compress --model yolov3-tiny --energy "$e" --images runs/photos60 --output "$out/v3t-e$e.safetensors"
done
# Data-aware low-rank (the README's second table): energy 0.99 by the counted rule alone (--max-time 0, the earlier
# default) and by the measured rule, then error budgets (the default with --calib is CompressCommand.recommendedErrorBudget).
budgets="${BUDGETS:-0.02 0.03 0.05}"
for m in fall-yolov8s yolov3-tiny; do
  short=${m%%-*}; data=(); [ "$m" = fall-yolov8s ] && data=(--data runs/valset/data.yaml)
  run compress --model "$m" --calib runs/calib16 --energy 0.99 --max-time 0 "${data[@]}" --images runs/photos60 --output "$out/$short-c0.99-counted.safetensors"
  run compress --model "$m" --calib runs/calib16 --energy 0.99 "${data[@]}" --images runs/photos60 --output "$out/$short-c0.99.safetensors"
  for b in $budgets; do
    run compress --model "$m" --calib runs/calib16 --error-budget "$b" "${data[@]}" --images runs/photos60 --output "$out/$short-b$b.safetensors"
  done
done
# Forward time of each original against its default (--calib alone) result: `yolo bench` alternating, ROUNDS (9)
# rounds of RUNS (3) runs, the median of the rounds' medians (short rounds follow a changing load more closely).
rounds="${ROUNDS:-9}"; runs="${RUNS:-3}"
bench_ms() { "$yolo" bench --model "$1" --backend "$backend" --runs "$runs" --warmup 1 --peak-size 0 --format json 2>/dev/null |
  .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['backends'][0]['forward_ms']['median'])"; }
for m in fall-yolov8s yolov3-tiny; do
  short=${m%%-*}; "$yolo" compress --model "$m" --calib runs/calib16 --backend "$backend" --rounds 1 --output "$out/$short-default.safetensors" >/dev/null 2>&1 || true
  a=(); b=()
  for _ in $(seq "$rounds"); do a+=("$(bench_ms "$m")"); b+=("$(bench_ms "$out/$short-default.safetensors")"); done
  echo "### bench alternating: $m ${a[*]} | $short-default ${b[*]}"
  .venv/bin/python -c "import statistics as s; a=[float(x) for x in '${a[*]}'.split()]; b=[float(x) for x in '${b[*]}'.split()]; print(f'median {s.median(a):.1f} -> {s.median(b):.1f} ms ({(s.median(b)/s.median(a)-1)*100:+.1f} %)')"
done
