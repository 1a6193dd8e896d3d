#!/usr/bin/env python3
"""Generates the image-decoder test fixtures in Tests/Fixtures/images/ (deterministic, seeded).

Usage:  .venv/bin/python scripts/reference/make_image_fixtures.py   (from the repository root)

Every fixture is synthesized here (Pillow for JPEG and the common PNG kinds, a small hand-written PNG
writer for the kinds Pillow cannot produce: 1/2/4/16-bit samples, Adam7 interlacing, all five row
filters, tRNS on gray, corrupt CRCs, a decompression bomb header). The expected pixels are what the
project's reference decoder produces: OpenCV `cv2.imread(path, cv2.IMREAD_COLOR)` converted BGR -> RGB,
stored raw (height * width * 3 bytes) as expected/<fixture>.rgb. For CMYK JPEGs Pillow's decode is stored
too (<fixture>.pil.rgb). manifest.json lists every fixture with its expected size or expected failure.

Run it with the project venv (scripts/setup-venv.sh: opencv-python-headless 4.x). OpenCV 4.14.0 and 5.0.0
produce byte-identical expected files (both bundle libjpeg-turbo 3.1.2). The "libpng warning/error" lines
it prints come from OpenCV reading the deliberately corrupt fixtures.
"""
import io
import json
import os
import struct
import sys
import zlib

import cv2
import numpy as np
import PIL
from PIL import Image, ImageOps, features

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "images")
EXP = os.path.join(OUT, "expected")

JPEG_W, JPEG_H = 35, 21   # deliberately not multiples of 8/16: partial MCUs, chroma edge upsampling
PNG_W, PNG_H = 13, 9      # odd sizes: partial Adam7 passes, partial bytes for 1/2/4-bit rows

manifest = []


def pattern(w, h, seed):
    """A smooth, non-symmetric RGB pattern (R grows with x, G with y) plus mild seeded noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 20 + 215 * x / max(w - 1, 1)
    g = 30 + 200 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin((x * 0.9 + y * 0.4))
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
    img[0:3, 0:4] = (250, 20, 20)  # a red block in the top-left corner: orientation is visible at a glance
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def opencv_rgb(path):
    try:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    except cv2.error:  # e.g. its own pixel limit (CV_IO_MAX_IMAGE_PIXELS)
        return None
    if bgr is None:
        return None
    return np.ascontiguousarray(bgr[:, :, ::-1])


def pillow_rgb(path):
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"))


def add(name, data, note, pillow_too=False, expect_error=None):
    """Writes a fixture, records OpenCV's (and optionally Pillow's) decode of it."""
    write(name, data)
    path = os.path.join(OUT, name)
    entry = {"file": name, "note": note}
    if expect_error is not None:
        entry["error"] = expect_error
        ref = opencv_rgb(path)
        entry["opencv_decodes"] = ref is not None
    else:
        ref = opencv_rgb(path)
        if ref is None:
            sys.exit(f"OpenCV could not decode {name}")
        h, w = ref.shape[:2]
        entry.update(width=w, height=h, expected=f"expected/{name}.rgb")
        with open(os.path.join(EXP, name + ".rgb"), "wb") as f:
            f.write(ref.tobytes())
        if pillow_too:
            pil = pillow_rgb(path)
            assert pil.shape == ref.shape, (name, pil.shape, ref.shape)
            entry["pillow"] = f"expected/{name}.pil.rgb"
            with open(os.path.join(EXP, name + ".pil.rgb"), "wb") as f:
                f.write(pil.tobytes())
    manifest.append(entry)


# ---------------------------------------------------------------------------------------------------
# JPEG
# ---------------------------------------------------------------------------------------------------

def jpeg_bytes(img, mode=None, **kw):
    buf = io.BytesIO()
    (Image.fromarray(img, mode) if mode else Image.fromarray(img)).save(buf, "JPEG", **kw)
    return buf.getvalue()


def exif_block(order, entries, ifd_offset=8, truncate=None):
    """b'Exif\\0\\0' + a TIFF header + IFD0 with the given (tag, type, count, value) entries."""
    e = "<" if order == "II" else ">"
    tiff = order.encode() + struct.pack(e + "HI", 42, ifd_offset)
    if ifd_offset < 4096:
        tiff += b"\0" * (ifd_offset - 8)  # else: a hostile offset that points past the block
    tiff += struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3:
            val = struct.pack(e + "HH", value, 0)
        else:
            val = struct.pack(e + "I", value)
        tiff += struct.pack(e + "HHI", tag, typ, count) + val
    tiff += struct.pack(e + "I", 0)  # no IFD1
    if truncate is not None:
        tiff = tiff[:truncate]
    return b"Exif\0\0" + tiff


def gen_jpeg():
    img = pattern(JPEG_W, JPEG_H, seed=1)
    add("jpeg_baseline_420.jpg", jpeg_bytes(img, quality=90), "baseline, 4:2:0 (Pillow default)")
    add("jpeg_baseline_422.jpg", jpeg_bytes(img, quality=90, subsampling=1), "baseline, 4:2:2")
    add("jpeg_baseline_444.jpg", jpeg_bytes(img, quality=95, subsampling=0), "baseline, 4:4:4")
    add("jpeg_progressive.jpg", jpeg_bytes(img, quality=90, progressive=True), "progressive, 4:2:0")
    add("jpeg_optimized.jpg", jpeg_bytes(img, quality=75, optimize=True), "optimized Huffman tables")
    gray = np.asarray(Image.fromarray(img).convert("L"))
    add("jpeg_gray.jpg", jpeg_bytes(gray, quality=90), "grayscale (1 component)")
    add("jpeg_1x1.jpg", jpeg_bytes(np.array([[[200, 40, 90]]], np.uint8), quality=95), "1x1")

    # CMYK with every ink varying (K too) so the C*K/255 formula is exercised. Pillow writes an Adobe
    # APP14 marker and stores the samples inverted, like Photoshop.
    y, x = np.mgrid[0:JPEG_H, 0:JPEG_W]
    cmyk = np.stack([
        255 * x / (JPEG_W - 1),
        255 * y / (JPEG_H - 1),
        128 + 120 * np.sin(x * 0.5),
        200 * ((x + y) % 7) / 6,
    ], axis=-1)
    cmyk = np.clip(np.rint(cmyk), 0, 255).astype(np.uint8)
    adobe = jpeg_bytes(cmyk, "CMYK", quality=95)
    assert adobe[2:4] == b"\xff\xee" and adobe[6:11] == b"Adobe", "expected Pillow to write APP14 first"
    add("jpeg_cmyk_adobe.jpg", adobe, "CMYK, Adobe APP14 (inverted samples, Photoshop style)", pillow_too=True)
    # The same file without the APP14 marker. By the JPEG spec its samples would be plain (non-inverted)
    # CMYK, but OpenCV and Pillow ("assume adobe conventions") both still read them as inverted; so do we.
    app14_len = struct.unpack(">H", adobe[4:6])[0]
    no_adobe = adobe[:2] + adobe[4 + app14_len:]
    add("jpeg_cmyk_noadobe.jpg", no_adobe, "CMYK without Adobe marker: still read as inverted (OpenCV, Pillow)",
        pillow_too=True)

    # EXIF orientation: identical JPEG data, only the tag differs. Little-endian for 1..8, big-endian for
    # two of them, the tag after other tags, and hostile / invalid blocks (must be ignored -> 1).
    for o in range(1, 9):
        ex = exif_block("II", [(0x010F, 2, 1, 0), (0x0112, 3, 1, o)])
        add(f"jpeg_orient_{o}.jpg", jpeg_bytes(img, quality=90, exif=ex), f"EXIF orientation {o} (II)")
    for o in (6, 8):
        ex = exif_block("MM", [(0x0100, 4, 1, JPEG_W), (0x0101, 4, 1, JPEG_H), (0x0112, 3, 1, o)], ifd_offset=12)
        add(f"jpeg_orient_{o}_be.jpg", jpeg_bytes(img, quality=90, exif=ex), f"EXIF orientation {o} (MM)")
    ex = exif_block("II", [(0x0112, 3, 1, 9)])
    add("jpeg_orient_invalid9.jpg", jpeg_bytes(img, quality=90, exif=ex), "orientation 9: invalid, ignored")
    ex = exif_block("II", [(0x0112, 3, 1, 6)], ifd_offset=0x7FFFFFF0)
    add("jpeg_exif_bad_ifd.jpg", jpeg_bytes(img, quality=90, exif=ex), "IFD0 offset far past the end")
    ex = exif_block("MM", [(0x0112, 3, 1, 6)] * 3, truncate=20)
    add("jpeg_exif_truncated.jpg", jpeg_bytes(img, quality=90, exif=ex), "IFD0 entry cut off inside its value field's padding: OpenCV still reads orientation 6 (we follow), Pillow ignores it")


# ---------------------------------------------------------------------------------------------------
# PNG: a minimal writer that supports every IHDR combination, Adam7, and all five filter types
# ---------------------------------------------------------------------------------------------------

def chunk(kind, body, bad_crc=False):
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    if bad_crc:
        crc ^= 0xDEADBEEF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def pack_row(row, bit_depth):
    """row: 1-D array of samples -> bytes (MSB-first packing below 8 bits, big-endian for 16)."""
    if bit_depth == 16:
        return row.astype(">u2").tobytes()
    if bit_depth == 8:
        return row.astype(np.uint8).tobytes()
    per = 8 // bit_depth
    out = bytearray((len(row) + per - 1) // per)
    for i, v in enumerate(row):
        out[i // per] |= int(v) << (8 - bit_depth * (i % per + 1))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_filter):
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, raw in enumerate(rows):
        ftype = (first_filter + i) % 5
        res = bytearray(len(raw))
        for j in range(len(raw)):
            a = raw[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[ftype]
            res[j] = (raw[j] - pred) & 0xFF
        out += bytes([ftype]) + res
        prev = raw
    return bytes(out)


def png_bytes(samples, bit_depth, color_type, palette=None, trns=None, interlace=False, extra=(),
              bad_idat_crc=False, ihdr_size=None):
    """samples: (h, w, channels) integer array."""
    h, w = samples.shape[:2]
    ch = CHANNELS[color_type]
    assert samples.shape[2] == ch
    bpp = max(1, ch * bit_depth // 8)
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for k, (x0, y0, dx, dy) in enumerate(passes):
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        rows = [pack_row(sub[r].reshape(-1), bit_depth) for r in range(sub.shape[0])]
        raw += filter_rows(rows, bpp, first_filter=k)
    iw, ih = ihdr_size if ihdr_size else (w, h)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", iw, ih, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    for kind, body in extra:
        out += chunk(kind, body)
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw, 9), bad_crc=bad_idat_crc)
    out += chunk(b"IEND", b"")
    return out


def pil_png(img, mode=None, **kw):
    buf = io.BytesIO()
    (Image.fromarray(img, mode) if mode else Image.fromarray(img)).save(buf, "PNG", **kw)
    return buf.getvalue()


def gen_png():
    rgb = pattern(PNG_W, PNG_H, seed=2)
    rng = np.random.default_rng(3)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    alpha = rng.integers(0, 256, (PNG_H, PNG_W), dtype=np.uint8)
    alpha[0, :] = 0  # fully transparent pixels keep their color (no compositing onto black/white)

    # Pillow-written files (the common encoder).
    add("png_rgb8.png", pil_png(rgb), "RGB 8-bit (Pillow)")
    add("png_rgba8.png", pil_png(np.dstack([rgb, alpha]), "RGBA"), "RGBA 8-bit: alpha dropped, not composited")
    add("png_gray8.png", pil_png(gray), "gray 8-bit")
    add("png_graya8.png", pil_png(np.dstack([gray, alpha]), "LA"), "gray+alpha 8-bit")
    pal_img = Image.fromarray(rgb).quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pal_img.save(buf, "PNG", transparency=bytes([0, 128] + [255] * 14))
    add("png_palette8_trns.png", buf.getvalue(), "palette 8-bit + tRNS (Pillow)")
    buf = io.BytesIO()
    pal_img.save(buf, "PNG", bits=4)
    add("png_palette4.png", buf.getvalue(), "palette 4-bit (Pillow)")
    add("png_1x1.png", pil_png(np.array([[[12, 250, 99]]], np.uint8)), "1x1")
    ex = Image.Exif()
    ex[0x0112] = 6
    add("png_exif_orient6.png", pil_png(rgb, exif=ex), "eXIf chunk, orientation 6 (OpenCV applies it too)")

    # Hand-written files: bit depths, tRNS, interlacing, every filter type.
    y, x = np.mgrid[0:PNG_H, 0:PNG_W]
    for bits in (1, 2, 4):
        g = ((x * 3 + y * 5) % (1 << bits))[..., None]
        add(f"png_gray{bits}.png", png_bytes(g, bits, 0), f"gray {bits}-bit")
    g16 = (gray.astype(np.uint32) * 257 + (x * 37 + y * 11) % 256 - 128).clip(0, 65535)[..., None]
    add("png_gray16.png", png_bytes(g16, 16, 0), "gray 16-bit (low byte varies: must be dropped, not rounded)")
    rgb16 = (rgb.astype(np.uint32) * 256 + ((x * 97 + y * 31) % 256)[..., None]).astype(np.uint32)
    a16 = alpha.astype(np.uint32) * 257
    add("png_rgb16.png", png_bytes(rgb16, 16, 2), "RGB 16-bit")
    add("png_rgba16.png", png_bytes(np.dstack([rgb16, a16]), 16, 6), "RGBA 16-bit")
    add("png_graya16.png", png_bytes(np.dstack([g16[..., 0], a16]), 16, 4), "gray+alpha 16-bit")
    add("png_gray8_trns.png", png_bytes(gray[..., None], 8, 0, trns=struct.pack(">H", int(gray[2, 2]))),
        "gray 8-bit with a tRNS key color")
    add("png_rgb8_filters.png", png_bytes(rgb, 8, 2), "RGB 8-bit, rows cycle through all 5 filter types")
    palette = rng.integers(0, 256, (4, 3))
    idx = ((x + 2 * y) % 4)[..., None]
    add("png_palette2_trns.png", png_bytes(idx, 2, 3, palette=palette, trns=bytes([255, 0, 77])),
        "palette 2-bit + short tRNS")
    add("png_interlaced_rgb8.png", png_bytes(rgb, 8, 2, interlace=True), "Adam7 RGB 8-bit")
    add("png_interlaced_gray2.png", png_bytes(((x + y) % 4)[..., None], 2, 0, interlace=True), "Adam7 gray 2-bit")
    add("png_interlaced_rgba16.png", png_bytes(np.dstack([rgb16, a16]), 16, 6, interlace=True), "Adam7 RGBA 16-bit")
    add("png_interlaced_palette.png", png_bytes(idx, 8, 3, palette=palette, interlace=True), "Adam7 palette 8-bit")
    add("png_bad_text_crc.png",
        png_bytes(rgb, 8, 2)[:33] + chunk(b"tEXt", b"Comment\0hello", bad_crc=True) + png_bytes(rgb, 8, 2)[33:],
        "ancillary chunk with a bad CRC: dropped with a warning, image decodes")

    # A PNG with a .jpg name: the format must come from the content.
    add("png_disguised.jpg", pil_png(rgb), "a PNG file named .jpg")

    # Failures.
    add("png_bad_crc.png", png_bytes(rgb, 8, 2, bad_idat_crc=True), "IDAT with a wrong CRC",
        expect_error="truncated/corrupt PNG")
    bomb = png_bytes(np.zeros((1, 1, 1), np.uint8), 8, 0, ihdr_size=(100000, 100000))
    add("png_bomb_100000x100000.png", bomb, "IHDR declares 100000x100000 (valid CRCs, tiny IDAT)",
        expect_error="100000x100000")


def main():
    os.makedirs(EXP, exist_ok=True)
    for d in (OUT, EXP):
        for f in os.listdir(d):
            p = os.path.join(d, f)
            if os.path.isfile(p):
                os.remove(p)
    gen_jpeg()
    gen_png()
    info = {
        "generator": "scripts/reference/make_image_fixtures.py",
        "opencv": cv2.__version__,
        "opencv_libjpeg": "bundled libjpeg-turbo (see cv2.getBuildInformation())",
        "pillow": PIL.__version__,
        "pillow_libjpeg": features.version("jpg"),
        "numpy": np.__version__,
        "fixtures": manifest,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"{len(manifest)} fixtures, {total} bytes in {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
