#!/usr/bin/env python3
"""Hand count of a Darknet cfg's convolution GFLOPs (2 × multiply-accumulates, as Darknet prints BFLOPs), the
figure `yolo info` gives for Darknet models (ModelInfoExportTests.testDarknetInfo: yolov3-tiny at 416 → 5.565).
Handles the layers of yolov3-tiny ([convolutional], [maxpool], [upsample], [route], [yolo]).
OpenCV's Net.getFLOPS gives 5.676 for yolov3-tiny: it also counts BatchNorm, activations, pooling and the rest.

Usage: python3 scripts/reference/darknet_conv_flops.py Models/yolov3-tiny.cfg [size]
"""
import sys

path = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else None
secs, cur = [], None
for line in open(path):
    line = line.split("#")[0].strip()
    if not line:
        continue
    if line.startswith("["):
        cur = {"_": line[1:-1]}
        secs.append(cur)
    else:
        k, v = line.split("=", 1)
        cur[k.strip()] = v.strip()
net = secs[0]
c, h, w = 3, size or int(net["height"]), size or int(net["width"])
outs, macs = [], 0
for s in secs[1:]:
    t = s["_"]
    if t == "convolutional":
        f, k, st = int(s["filters"]), int(s["size"]), int(s.get("stride", 1))
        pad = k // 2 if s.get("pad", "0") == "1" else int(s.get("padding", 0))
        h2, w2 = (h + 2 * pad - k) // st + 1, (w + 2 * pad - k) // st + 1
        macs += f * c * k * k * h2 * w2
        c, h, w = f, h2, w2
    elif t == "maxpool":
        st = int(s["stride"])
        if st > 1:
            h, w = (h - 1) // st + 1, (w - 1) // st + 1
    elif t == "upsample":
        h, w = h * int(s.get("stride", 2)), w * int(s.get("stride", 2))
    elif t == "route":
        ls = [int(x) for x in s["layers"].split(",")]
        ls = [l if l >= 0 else len(outs) + l for l in ls]
        c = sum(outs[l][0] for l in ls)
        h, w = outs[ls[0]][1], outs[ls[0]][2]
    outs.append((c, h, w))
print(f"{2 * macs / 1e9:.6f}")
