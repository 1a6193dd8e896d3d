#!/usr/bin/env bash
# Builds a small package that depends on this one *by version*, as a library user's package would
# (`.package(url: …, from: "0.1.0")`), and runs a detection through YOLOKit. SwiftPM refuses unsafe build flags in
# version-based dependencies, so this proves the manifest has none and the library works as a plain dependency.
# It builds what is committed (a clone of HEAD, tagged 0.1.0 there), in release mode and for generic x86-64 (no
# CPU flags: what a library user gets by default). Needs the default model (scripts/fetch-models.sh).
#   scripts/check-consumer.sh            # prints the detection; exit status 0 when it found the 3 persons on bus.jpg
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/yolo-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

git clone --quiet "$root" "$work/SwiftYOLO"
git -C "$work/SwiftYOLO" tag -f 0.1.0 >/dev/null
mkdir -p "$work/Consumer/Sources/Consumer"
cat > "$work/Consumer/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [.package(url: "file://$work/SwiftYOLO", from: "0.1.0")],
    targets: [.executableTarget(name: "Consumer", dependencies: [.product(name: "YOLOKit", package: "SwiftYOLO")])]
)
SWIFT
cat > "$work/Consumer/Sources/Consumer/main.swift" <<'SWIFT'
import YOLOKit

// Consumer MODEL PHOTO: detects and prints what it found, as a library user's first program would.
let arguments = CommandLine.arguments
let detector = try Detector(model: arguments[1], execution: ExecutionOptions(threads: 2))
let result = try detector.detect(imageAt: arguments[2])
print("\(arguments[2]): \(result.summary) (forward \(Int(result.times.forward)) ms, generic build)")
for box in result.boxes { print("  \(box.name) \(box.confidence)") }
if result.boxes.filter({ $0.name == "person" }).count != 3 { fatalError("expected 3 persons") }
SWIFT
echo "check-consumer: building a package that depends on SwiftYOLO from: 0.1.0 (release, generic)"
swift build -c release --package-path "$work/Consumer" 2>&1 | grep -Ev "^\[[0-9]+/[0-9]+\]" || true
"$work/Consumer/.build/release/Consumer" "$root/Models/yolov3-tiny.cfg" "$root/Models/samples/bus.jpg"
