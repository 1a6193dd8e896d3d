#!/usr/bin/env python3
"""Make an Ultralytics-format detection dataset of shapes pasted onto photos, for `yolo train`.

    .venv/bin/python scripts/make-train-set.py                       # -> runs/datasets/shapes/ (160 train, 40 val)
    .venv/bin/python scripts/make-train-set.py --train 400 --val 80 --size 416 --out DIR
    .venv/bin/python scripts/make-train-set.py --tiny --out Tests/Fixtures/trainer/tiny   # the test fixture

Classes: circle, square, triangle — objects the COCO / fall models were never taught. Each image is a random crop
of a real photo (bus.jpg and zidane.jpg from Models/samples, grace_hopper.jpg from matplotlib's sample data when
installed), resized so that its long side is --size, with 1-4 filled shapes of random colours at random places and
sizes (8-30 % of the short side, overlapping little), so every box is known exactly. --tiny makes the small fixture
of the Swift tests instead: 96x96 PNG images on smooth random backgrounds (no photos), 8 train and 4 val.
Layout: images/{train,val}/*.{jpg,png}, labels/{train,val}/*.txt (YOLO rows: class cx cy w h, normalized) and
data.yaml beside them (no `path:`, so the splits resolve against the yaml's folder). Deterministic (seeded).
The default output goes under runs/ (git-ignored): never commit the photos.
"""
import argparse
import math
import os
import random
import sys

from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["circle", "square", "triangle"]


def photos():
    samples = os.path.join(os.environ.get("YOLO_MODELS_DIR", os.path.join(ROOT, "Models")), "samples")
    paths = [os.path.join(samples, n) for n in ("bus.jpg", "zidane.jpg")]
    try:
        import matplotlib

        paths.append(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg"))
    except ImportError:
        pass
    found = [Image.open(p).convert("RGB") for p in paths if os.path.exists(p)]
    if not found:
        sys.exit(f"no photos found (looked for {', '.join(paths)}); run scripts/fetch-models.sh first")
    return found


def background(rng, sources, size, tiny):
    if tiny:  # a smooth two-colour gradient
        a = [rng.randrange(256) for _ in range(3)]
        b = [rng.randrange(256) for _ in range(3)]
        im = Image.new("RGB", (size, size))
        px = im.load()
        for y in range(size):
            for x in range(size):
                t = (x + y) / (2 * size - 2)
                px[x, y] = tuple(int(a[c] * (1 - t) + b[c] * t) for c in range(3))
        return im
    src = sources[rng.randrange(len(sources))]
    w, h = src.size
    cw, ch = int(w * rng.uniform(0.4, 1.0)), int(h * rng.uniform(0.4, 1.0))
    x, y = rng.randrange(w - cw + 1), rng.randrange(h - ch + 1)
    im = src.crop((x, y, x + cw, y + ch))
    scale = size / max(im.size)
    return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0


def draw_objects(rng, im, tiny):
    draw = ImageDraw.Draw(im)
    w, h = im.size
    short = min(w, h)
    boxes = []
    for _ in range(rng.randint(1, 2 if tiny else 4)):
        for _attempt in range(20):
            cls = rng.randrange(len(CLASSES))
            side = rng.uniform(0.25, 0.45) * short if tiny else rng.uniform(0.08, 0.30) * short
            x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
            if cls == 2:  # triangle: apex up, base at the bottom of its square
                box = (x0, y0, x0 + side, y0 + side * math.sqrt(3) / 2)
            else:
                box = (x0, y0, x0 + side, y0 + side)
            if all(iou(box, b[1:]) < 0.05 for b in boxes):
                break
        else:
            continue
        colour = tuple(rng.randrange(256) for _ in range(3))
        if cls == 0:
            draw.ellipse(box, fill=colour)
        elif cls == 1:
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([((box[0] + box[2]) / 2, box[1]), (box[2], box[3]), (box[0], box[3])], fill=colour)
        boxes.append((cls, *box))
    return boxes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="dataset folder (default runs/datasets/shapes)")
    parser.add_argument("--train", type=int, default=160)
    parser.add_argument("--val", type=int, default=40)
    parser.add_argument("--size", type=int, default=320, help="long side of each image in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="the Swift tests' fixture: 8 + 4 synthetic 96x96 PNGs")
    args = parser.parse_args()
    if args.tiny:
        args.train, args.val, args.size = 8, 4, 96
    out = args.out or os.path.join(ROOT, "runs", "datasets", "shapes")
    rng = random.Random(args.seed)
    sources = [] if args.tiny else photos()
    counts = {}
    for split, n in (("train", args.train), ("val", args.val)):
        os.makedirs(os.path.join(out, "images", split), exist_ok=True)
        os.makedirs(os.path.join(out, "labels", split), exist_ok=True)
        instances = 0
        for i in range(n):
            im = background(rng, sources, args.size, args.tiny)
            boxes = draw_objects(rng, im, args.tiny)
            stem = f"{split}_{i:04d}"
            if args.tiny:
                im.save(os.path.join(out, "images", split, stem + ".png"))
            else:
                im.save(os.path.join(out, "images", split, stem + ".jpg"), quality=92)
            w, h = im.size
            with open(os.path.join(out, "labels", split, stem + ".txt"), "w") as f:
                for cls, x1, y1, x2, y2 in boxes:
                    f.write(f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n")
            instances += len(boxes)
        counts[split] = (n, instances)
    with open(os.path.join(out, "data.yaml"), "w") as f:
        f.write("# made by scripts/make-train-set.py" + (" --tiny" if args.tiny else "") + f" --seed {args.seed}\n")
        f.write("train: images/train\nval: images/val\nnames:\n")
        for i, name in enumerate(CLASSES):
            f.write(f"  {i}: {name}\n")
    for split, (n, k) in counts.items():
        print(f"{split}: {n} images, {k} objects")
    print(f"dataset in {out} ({os.path.join(out, 'data.yaml')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
