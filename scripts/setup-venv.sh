#!/usr/bin/env bash
# Creates .venv (git-ignored) with the reference implementations used to make golden files and to
# benchmark peers: OpenCV DNN (its Darknet importer is the reference for .cfg/.weights models).
# Usage: scripts/setup-venv.sh [extra pip requirements...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  "opencv-python-headless>=4.8,<5" "numpy<3" "pillow" "$@"
.venv/bin/python -c "import cv2, numpy, PIL; print('venv ready: opencv', cv2.__version__, 'numpy', numpy.__version__)"
