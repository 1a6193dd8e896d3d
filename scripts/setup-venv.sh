#!/usr/bin/env bash
# Creates .venv (git-ignored) with the reference implementations used to make golden files and to
# benchmark peers: OpenCV DNN 4.x (its Darknet importer is the reference for .cfg/.weights models; OpenCV 5
# removed it), Ultralytics + PyTorch (the reference for .pt checkpoints), ONNX Runtime and OpenVINO.
# Usage: scripts/setup-venv.sh            (everything, several GB because of torch)
#        scripts/setup-venv.sh --opencv   (only OpenCV + numpy + Pillow, for the Darknet and image goldens)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# ultralytics depends on opencv-python; pin both OpenCV wheels below 5 so neither brings OpenCV 5's cv2.
opencv=("opencv-python-headless>=4.8,<5" "opencv-python>=4.8,<5" "numpy<3" "pillow")
if [ "${1:-}" = "--opencv" ]; then
  "${pip[@]}" "${opencv[@]}"
else
  "${pip[@]}" "${opencv[@]}" "ultralytics==8.4.190" onnx onnxruntime openvino
fi
.venv/bin/python -c "import cv2; assert int(cv2.__version__.split('.')[0]) < 5, cv2.__version__; print('venv ready: opencv', cv2.__version__)"
