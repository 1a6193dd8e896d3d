#!/usr/bin/env bash
# One command from a fresh Debian machine (with Swift 6 on PATH) to a working `yolo`:
# installs the C libraries, fetches the default model and sample photos, builds in release mode,
# and detects objects in a sample photo.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas-dev liblapacke-dev libpng-dev libjpeg-dev pkg-config)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (install Swift 6 from swift.org)" >&2; exit 1; }

scripts/fetch-models.sh
# The CPU is targeted on the command line (the manifest has no unsafe flags, so other packages can depend on this
# one by version): YOLO_TARGET_CPU=<cpu> builds for another CPU, =generic for any x86-64 (see README).
cpu=${YOLO_TARGET_CPU:-native}
cpu_flags=(); [ "$cpu" = generic ] || cpu_flags=(-Xswiftc -target-cpu -Xswiftc "$cpu")
echo "setup: building (release, target CPU: $cpu)"
# --static-swift-stdlib: the Swift runtime and Foundation linked in, not loaded from a dozen shared libraries at
# every start (downloads load libcurl only when they happen, Sources/CDownload).
swift build -c release "${cpu_flags[@]}" --static-swift-stdlib --product yolo
echo "setup: detecting objects in Models/samples/bus.jpg"
.build/release/yolo detect Models/samples/bus.jpg
