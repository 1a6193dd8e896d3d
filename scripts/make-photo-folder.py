#!/usr/bin/env python3
"""Make a folder of N varied JPEG photos from the two sample photos, for batch benchmarks.

    .venv/bin/python scripts/make-photo-folder.py 200            # -> runs/bench/photos-200/
    .venv/bin/python scripts/make-photo-folder.py 2000 --out DIR

Each photo is bus.jpg or zidane.jpg, randomly cropped (60-100 % of each side), maybe mirrored, scaled so that
its long side is 640-2560 px, and saved as JPEG quality 85-95, 50 photos per subfolder (nested two deep),
with names ending .jpg/.JPG/.jpeg. Deterministic (seeded), so a folder of N is the same on every machine.
The output goes under runs/ (git-ignored): never commit the photos.
"""
import argparse
import os
import random
import sys

from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int, help="number of photos")
    parser.add_argument("--out", help="folder to create (default runs/bench/photos-COUNT)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    samples = os.path.join(os.environ.get("YOLO_MODELS_DIR", os.path.join(ROOT, "Models")), "samples")
    sources = [Image.open(os.path.join(samples, name)).convert("RGB") for name in ("bus.jpg", "zidane.jpg")]
    out = args.out or os.path.join(ROOT, "runs", "bench", f"photos-{args.count}")
    rng = random.Random(args.seed)
    for i in range(args.count):
        src = sources[rng.randrange(2)]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x, y = rng.randrange(w - cw + 1), rng.randrange(h - ch + 1)
        im = src.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        long_side = rng.randint(640, 2560)
        scale = long_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
        folder = os.path.join(out, f"set{i // 500:02d}", f"roll{(i // 50) % 10:02d}")
        os.makedirs(folder, exist_ok=True)
        ext = ("jpg", "JPG", "jpeg")[i % 3]
        im.save(os.path.join(folder, f"IMG_{i:06d}.{ext}"), quality=rng.randint(85, 95))
    print(f"{args.count} photos in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
