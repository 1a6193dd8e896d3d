#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into Fuzz/corpus/<target>/ (see scripts/fuzz.sh).

Every seed is generated here, none is copied from elsewhere, and the output is deterministic (rerunning
rewrites the same bytes). Needs only Python 3, clang and the libjpeg/libpng development files the package
itself builds against: JPEGs are written by the project's own C shim (Sources/CImageCodecs, compiled to a
temporary shared library and called through ctypes, so arithmetic coding, CMYK and YCCK are available),
PNGs by a small writer below, pickles by Python's pickle module with stand-in classes named like PyTorch's
and Ultralytics' (no torch needed), cfg and weights files from templates.

Also writes the generated fixtures of Tests/Fixtures/fuzz-regressions (inputs behind fixed loader bugs); the
files there that come straight from a fuzzer's crash output are left alone.

Usage: scripts/make-fuzz-corpus.py [--out Fuzz/corpus]
"""
import argparse
import collections
import ctypes
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------------------

class Codecs:
    """The C shim's encoders through ctypes."""

    PROGRESSIVE, ARITHMETIC, S444, GRAY, YCCK = 1, 2, 4, 8, 16

    def __init__(self, tmp):
        lib = os.path.join(tmp, "libimage_codecs.so")
        subprocess.run(["clang", "-shared", "-fPIC", "-O1", "-I", os.path.join(ROOT, "Sources/CImageCodecs/include"),
                        os.path.join(ROOT, "Sources/CImageCodecs/image_codecs.c"), "-ljpeg", "-lpng16", "-lz",
                        "-o", lib], check=True)
        self.lib = ctypes.CDLL(lib)
        for name in ("ic_encode_jpeg", "ic_encode_jpeg_cmyk"):
            f = getattr(self.lib, name)
            f.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_uint32,
                          ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p, ctypes.c_size_t]
            f.restype = ctypes.c_int
        self.lib.ic_free.argtypes = [ctypes.c_void_p]

    def _encode(self, fn, pixels, w, h, quality, flags):
        out = ctypes.c_void_p()
        size = ctypes.c_size_t()
        err = ctypes.create_string_buffer(512)
        status = fn(bytes(pixels), w, h, quality, flags, ctypes.byref(out), ctypes.byref(size), err, 512)
        if status != 0:
            raise RuntimeError(err.value.decode())
        data = ctypes.string_at(out, size.value)
        self.lib.ic_free(out)
        return data

    def jpeg(self, rgb, w, h, quality=85, flags=0):
        return self._encode(self.lib.ic_encode_jpeg, rgb, w, h, quality, flags)

    def jpeg_cmyk(self, cmyk, w, h, quality=85, flags=0):
        return self._encode(self.lib.ic_encode_jpeg_cmyk, cmyk, w, h, quality, flags)


def rgb_pattern(w, h, seed=0):
    out = bytearray()
    for y in range(h):
        for x in range(w):
            out += bytes(((x * 255 // max(w - 1, 1) + seed) & 255, (y * 255 // max(h - 1, 1)) & 255,
                          ((x * 7 + y * 13 + seed * 31) * 5) & 255))
    return bytes(out)


def cmyk_pattern(w, h):
    out = bytearray()
    for y in range(h):
        for x in range(w):
            out += bytes((255 - x * 9 % 256, 255 - y * 11 % 256, 128 + (x + y) % 100, 255 - (x * y) % 200))
    return bytes(out)


def tiff_orientation(orientation, big_endian=False):
    e = ">" if big_endian else "<"
    head = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(e + "I", 0)
    return head + ifd


def with_exif(jpeg, orientation, big_endian=False):
    payload = b"Exif\0\0" + tiff_orientation(orientation, big_endian)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + app1 + jpeg[2:]


def patch_sof(jpeg, precision=None, width=None, height=None):
    b = bytearray(jpeg)
    i = 2
    while i + 4 <= len(b) and b[i] == 0xFF:
        marker = b[i + 1]
        length = struct.unpack(">H", bytes(b[i + 2:i + 4]))[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC9, 0xCA):
            if precision is not None:
                b[i + 4] = precision
                if marker == 0xC0:
                    b[i + 1] = 0xC1
            if height is not None:
                b[i + 5:i + 7] = struct.pack(">H", height)
            if width is not None:
                b[i + 7:i + 9] = struct.pack(">H", width)
            return bytes(b)
        i += 2 + length
    raise ValueError("no SOF")


def png_chunk(kind, data, bad_crc=False):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    if bad_crc:
        crc ^= 0xDEADBEEF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(w, h, color_type, depth, pixel, interlace=False, palette=None, trns=None, extra_before=b"", extra_after=b"",
        bad_idat_crc=False, filters=(0,)):
    """pixel(x, y) -> tuple of samples for the color type."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]

    def pack_row(samples):
        if depth >= 8:
            fmt = ">" + ("B" if depth == 8 else "H") * len(samples)
            return struct.pack(fmt, *samples)
        out, acc, bits = bytearray(), 0, 0
        for s in samples:
            acc = (acc << depth) | s
            bits += depth
            if bits == 8:
                out.append(acc)
                acc, bits = 0, 0
        if bits:
            out.append(acc << (8 - bits))
        return bytes(out)

    def scanlines(xs, ys):
        raw = bytearray()
        bpp = max(1, channels * depth // 8)
        prev = None
        for n, y in enumerate(ys):
            row = pack_row([s for x in xs for s in pixel(x, y)])
            f = filters[n % len(filters)]
            if f == 1:  # Sub
                row = bytes((row[i] - (row[i - bpp] if i >= bpp else 0)) & 255 for i in range(len(row)))
            elif f == 2 and prev is not None:  # Up
                row = bytes((row[i] - prev[i]) & 255 for i in range(len(row)))
            else:
                f = 0 if f == 2 else f
            prev = pack_row([s for x in xs for s in pixel(x, y)])
            raw += bytes([f]) + row
        return bytes(raw)

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
            if xs and ys:
                raw += scanlines(xs, ys)
    else:
        raw = scanlines(list(range(w)), list(range(h)))
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    out += extra_before
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(c for rgb in palette for c in rgb))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    out += png_chunk(b"IDAT", zlib.compress(raw, 9), bad_crc=bad_idat_crc)
    out += extra_after
    return out + png_chunk(b"IEND", b"")


def image_seeds(codecs):
    s = {}
    w, h = 19, 13
    rgb = rgb_pattern(w, h)
    s["jpeg_baseline_420.jpg"] = codecs.jpeg(rgb, w, h)
    s["jpeg_444.jpg"] = codecs.jpeg(rgb, w, h, 90, Codecs.S444)
    s["jpeg_progressive.jpg"] = codecs.jpeg(rgb, w, h, 80, Codecs.PROGRESSIVE)
    s["jpeg_arithmetic.jpg"] = codecs.jpeg(rgb, w, h, 80, Codecs.ARITHMETIC)
    s["jpeg_progressive_arithmetic.jpg"] = codecs.jpeg(rgb, w, h, 80, Codecs.PROGRESSIVE | Codecs.ARITHMETIC)
    s["jpeg_gray.jpg"] = codecs.jpeg(rgb, w, h, 80, Codecs.GRAY)
    s["jpeg_gray_progressive.jpg"] = codecs.jpeg(rgb, w, h, 80, Codecs.GRAY | Codecs.PROGRESSIVE)
    cmyk = cmyk_pattern(11, 9)
    s["jpeg_cmyk.jpg"] = codecs.jpeg_cmyk(cmyk, 11, 9, 85)
    s["jpeg_ycck.jpg"] = codecs.jpeg_cmyk(cmyk, 11, 9, 85, Codecs.YCCK)
    s["jpeg_ycck_progressive.jpg"] = codecs.jpeg_cmyk(cmyk, 11, 9, 85, Codecs.YCCK | Codecs.PROGRESSIVE)
    s["jpeg_1x1.jpg"] = codecs.jpeg(bytes((200, 40, 90)), 1, 1)
    s["jpeg_wide_64x1.jpg"] = codecs.jpeg(rgb_pattern(64, 1), 64, 1)
    s["jpeg_tall_1x64.jpg"] = codecs.jpeg(rgb_pattern(1, 64), 1, 64)
    for o in (3, 6, 8):
        s[f"jpeg_exif_orient{o}.jpg"] = with_exif(s["jpeg_baseline_420.jpg"], o, big_endian=(o == 8))
    s["jpeg_12bit_header.jpg"] = patch_sof(s["jpeg_gray.jpg"], precision=12)
    s["jpeg_bomb_header.jpg"] = patch_sof(s["jpeg_baseline_420.jpg"], width=60000, height=60000)
    s["jpeg_truncated.jpg"] = s["jpeg_baseline_420.jpg"][: len(s["jpeg_baseline_420.jpg"]) // 2]

    def px_rgb(x, y):
        return ((x * 20) & 255, (y * 30) & 255, (x * y) & 255)

    s["png_rgb8.png"] = png(w, h, 2, 8, px_rgb, filters=(0, 1, 2))
    s["png_rgba8.png"] = png(w, h, 6, 8, lambda x, y: px_rgb(x, y) + ((x * 13) & 255,))
    s["png_rgb16.png"] = png(7, 5, 2, 16, lambda x, y: (x * 9000, y * 12000, 65535 - x * y * 500))
    s["png_gray1.png"] = png(w, h, 0, 1, lambda x, y: ((x ^ y) & 1,))
    s["png_gray2.png"] = png(w, h, 0, 2, lambda x, y: ((x + y) & 3,))
    s["png_gray4.png"] = png(w, h, 0, 4, lambda x, y: ((x * y) & 15,))
    s["png_gray8_trns.png"] = png(w, h, 0, 8, lambda x, y: ((x * 13) & 255,), trns=struct.pack(">H", 26))
    s["png_gray16.png"] = png(7, 5, 0, 16, lambda x, y: (x * 7000 + y,))
    s["png_graya8.png"] = png(w, h, 4, 8, lambda x, y: ((x * 11) & 255, (y * 17) & 255))
    palette = [((i * 40) & 255, (i * 90) & 255, (255 - i * 30) & 255) for i in range(6)]
    s["png_palette4_trns.png"] = png(w, h, 3, 4, lambda x, y: ((x + y) % 6,), palette=palette, trns=bytes((0, 128)))
    s["png_palette8.png"] = png(w, h, 3, 8, lambda x, y: ((x * y) % 6,), palette=palette)
    s["png_interlaced_rgb8.png"] = png(w, h, 2, 8, px_rgb, interlace=True)
    s["png_interlaced_gray2.png"] = png(w, h, 0, 2, lambda x, y: ((x + 2 * y) & 3,), interlace=True)
    s["png_interlaced_palette.png"] = png(w, h, 3, 8, lambda x, y: ((x + y) % 6,), interlace=True, palette=palette)
    s["png_1x1.png"] = png(1, 1, 2, 8, lambda x, y: (12, 250, 99))
    s["png_wide_200x1.png"] = png(200, 1, 2, 8, px_rgb)
    s["png_tall_1x200.png"] = png(1, 200, 0, 8, lambda x, y: (y & 255,))
    s["png_exif_orient6.png"] = png(w, h, 2, 8, px_rgb, extra_after=png_chunk(b"eXIf", tiff_orientation(6)))
    s["png_bad_idat_crc.png"] = png(w, h, 2, 8, px_rgb, bad_idat_crc=True)
    s["png_bad_text_crc.png"] = png(w, h, 2, 8, px_rgb, extra_before=png_chunk(b"tEXt", b"Comment\0hi", bad_crc=True))
    bomb = png(1, 1, 0, 8, lambda x, y: (0,))
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
    s["png_bomb_header.png"] = bomb[:8] + png_chunk(b"IHDR", ihdr) + bomb[33:]
    zero = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    s["png_zero_width.png"] = bomb[:8] + png_chunk(b"IHDR", zero) + bomb[33:]
    s["png_truncated.png"] = s["png_rgb8.png"][:60]
    s["text.txt"] = b"just some text, not an image\n"
    s["gif_header.gif"] = b"GIF89a" + bytes(16)
    s["riff_webp.webp"] = b"RIFF\x10\0\0\0WEBPVP8 " + bytes(8)
    return s


# ----------------------------------------------------------------------------------------------------------
# Darknet cfg and weights
# ----------------------------------------------------------------------------------------------------------

def cfg(*sections, net="width=32\nheight=32\nchannels=3"):
    return "[net]\n" + net + "\n\n" + "\n\n".join(sections) + "\n"


def cfg_conv(filters, size=3, stride=1, pad=1, bn=1, act="leaky", extra=""):
    text = f"[convolutional]\n{'batch_normalize=1' + chr(10) if bn else ''}filters={filters}\nsize={size}\nstride={stride}\npad={pad}\nactivation={act}"
    return text + ("\n" + extra if extra else "")


def cfg_yolo(mask="0,1", anchors="10,14, 23,27, 37,58", classes=2, num=3, extra=""):
    text = f"[yolo]\nmask = {mask}\nanchors = {anchors}\nclasses={classes}\nnum={num}"
    return text + ("\n" + extra if extra else "")


def cfg_seeds():
    s = {}
    s["minimal.cfg"] = cfg(cfg_conv(14, 1, bn=0, act="linear"), cfg_yolo())
    s["tiny_like.cfg"] = cfg(cfg_conv(4), "[maxpool]\nsize=2\nstride=2", cfg_conv(8, stride=2, act="relu"), "[route]\nlayers=-1",
                             cfg_conv(14, 1, bn=0, act="linear"), cfg_yolo(extra="jitter=.3\nignore_thresh=.7\nrandom=1"))
    # yolov3-tiny's topology with small filter counts: two heads, upsample, route of two layers.
    s["yolov3_tiny_like.cfg"] = cfg(
        cfg_conv(4), "[maxpool]\nsize=2\nstride=2", cfg_conv(8), "[maxpool]\nsize=2\nstride=2", cfg_conv(8),
        "[maxpool]\nsize=2\nstride=1", cfg_conv(16, 1), cfg_conv(21, 1, bn=0, act="linear"),
        cfg_yolo("3,4,5", "10,14, 23,27, 37,58, 81,82, 135,169, 344,319", 2, 6),
        "[route]\nlayers = -4", cfg_conv(8, 1), "[upsample]\nstride=2", "[route]\nlayers = -1, 2",
        cfg_conv(21, 1, bn=0, act="linear"), cfg_yolo("0,1,2", "10,14, 23,27, 37,58, 81,82, 135,169, 344,319", 2, 6),
        net="width=64\nheight=64\nchannels=3\nmomentum=0.9\ndecay=0.0005\nburn_in=1000\npolicy=steps\nsteps=400000,450000")
    # yolov4-tiny's features: grouped route, mish/swish, shortcut, scale_x_y, new_coords, letter_box.
    s["yolov4_tiny_like.cfg"] = cfg(
        cfg_conv(8, stride=2, act="mish"), cfg_conv(8, act="swish"), "[route]\nlayers=-1\ngroups=2\ngroup_id=1",
        cfg_conv(4), cfg_conv(4), "[route]\nlayers = -1,-2", cfg_conv(8, 1), "[shortcut]\nfrom=-6\nactivation=linear",
        "[maxpool]\nsize=2\nstride=2", cfg_conv(7, 1, bn=0, act="logistic"),
        cfg_yolo("0", "10,14", 2, 1, "scale_x_y = 1.05\nnew_coords=1\niou_loss=ciou\nnms_kind=greedynms\nbeta_nms=0.6"),
        net="width=32\nheight=32\nchannels=3\nletter_box=1")
    s["grouped_conv.cfg"] = cfg(cfg_conv(6, act="relu"), cfg_conv(6, extra="groups=3"), cfg_conv(14, 1, bn=0, act="linear"), cfg_yolo())
    s["comments_crlf.cfg"] = ("; a comment\r\n[net]\r\nwidth = 32 # trailing\r\nheight=32\r\n\r\n[convolutional]\r\n"
                              "filters=14\r\nsize=1\r\nactivation=linear\r\n\r\n[yolo]\r\nmask=0,1\r\nanchors=1,2,3,4\r\n"
                              "classes=2\r\nnum=2\r\n")
    s["bad_unknown_section.cfg"] = cfg(cfg_conv(14, 1, bn=0, act="linear"), "[maxpoo]\nsize=2", cfg_yolo())
    s["bad_unknown_key.cfg"] = cfg(cfg_conv(14, 1, bn=0, act="linear", extra="sizee=3"), cfg_yolo())
    s["bad_head_filters.cfg"] = cfg(cfg_conv(15, 1, bn=0, act="linear"), cfg_yolo())
    s["bad_huge_values.cfg"] = cfg(cfg_conv(99999999, 99999, stride=1, pad=1, bn=0, act="linear"), cfg_yolo(),
                                   net="width=1000000000\nheight=416\nchannels=3")
    return {k: v.encode() for k, v in s.items()}


def weights_file(n, major=0, minor=2, seed=1):
    head = struct.pack("<iii", major, minor, 5)
    head += struct.pack("<Q", 12345) if major * 10 + minor >= 2 and major < 1000 and minor < 1000 else struct.pack("<I", 12345)
    vals = [0.5 + ((i * 2654435761 + seed) % 1000) / 1000 for i in range(n)]
    return head + struct.pack(f"<{n}f", *vals)


def weights_seeds():
    # Parameter counts of the two cfgs in Fuzz/FuzzDarknet.swift (fuzzWeightsConfigs).
    a = 4 * 4 + 4 * 3 * 9 + 8 + 8 * 4 * 9 + 14 + 14 * 4  # conv(BN) 3->4, conv 4->8, conv 4->14 (after groups=2 route)
    b = 6 + 6 * 3 * 9 + 6 * 4 + 6 * 6 + 6 + 6 * 6  # conv 3->6, conv(BN) 6->6 1x1, conv 6->6 1x1
    s = {
        "a_v02.weights": weights_file(a),
        "a_v01.weights": weights_file(a, 0, 1),
        "b_v02.weights": weights_file(b, seed=7),
        "b_v10.weights": weights_file(b, 1, 0, seed=3),
        "a_nan_inf.weights": weights_file(a)[:40] + struct.pack("<3f", float("nan"), float("inf"), -float("inf")) + weights_file(a)[52:],
        "a_short.weights": weights_file(a - 1),
        "b_long.weights": weights_file(b + 1),
        "header_only.weights": weights_file(0),
        "odd_version.weights": weights_file(a, 1000, 5),
        "tiny.weights": b"\x01\x02\x03",
    }
    return s


# ----------------------------------------------------------------------------------------------------------
# Pickles and .pt checkpoints (stand-ins named like PyTorch's and Ultralytics' classes)
# ----------------------------------------------------------------------------------------------------------

def fake_module(name):
    if name in sys.modules:
        return sys.modules[name]
    m = types.ModuleType(name)
    sys.modules[name] = m
    if "." in name:
        parent, _, child = name.rpartition(".")
        setattr(fake_module(parent), child, m)
    return m


def fake_class(module, name):
    cls = type(name, (object,), {"__module__": module, "__qualname__": name})
    setattr(fake_module(module), name, cls)
    return cls


def fake_function(module, name):
    def f(*args):
        raise RuntimeError("stand-in only")
    f.__module__, f.__name__, f.__qualname__ = module, name, name
    setattr(fake_module(module), name, f)
    return f


rebuild_tensor_v2 = fake_function("torch._utils", "_rebuild_tensor_v2")
rebuild_parameter = fake_function("torch._utils", "_rebuild_parameter")
STORAGE_CLASSES = {"f": fake_class("torch", "FloatStorage"), "e": fake_class("torch", "HalfStorage"),
                   "q": fake_class("torch", "LongStorage"), "B": fake_class("torch", "ByteStorage")}


class Storage:
    def __init__(self, values, fmt="f"):
        self.values, self.fmt = list(values), fmt

    def data(self):
        return struct.pack("<%d%s" % (len(self.values), self.fmt), *self.values)


class Tensor:
    def __init__(self, values, shape, fmt="f", stride=None, offset=0, storage=None):
        self.storage = storage or Storage(values, fmt)
        self.shape = tuple(shape)
        if stride is None:
            stride, acc = [], 1
            for d in reversed(self.shape):
                stride.insert(0, acc)
                acc *= d
        self.stride, self.offset = tuple(stride), offset

    def __reduce_ex__(self, protocol):
        return rebuild_tensor_v2, (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict())


class Parameter:
    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce_ex__(self, protocol):
        return rebuild_parameter, (self.tensor, True, collections.OrderedDict())


class TorchPickler(pickle.Pickler):
    """Storages become ('storage', torch.<X>Storage, key, 'cpu', numel) persistent ids, keys in first-use order."""

    def __init__(self, f, protocol=2):
        super().__init__(f, protocol=protocol)
        self.keys = {}

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            if id(obj) not in self.keys:
                self.keys[id(obj)] = (str(len(self.keys)), obj)
            return ("storage", STORAGE_CLASSES[obj.fmt], self.keys[id(obj)][0], "cpu", len(obj.values))
        return None


def torch_pickle(obj, protocol=2):
    f = io.BytesIO()
    p = TorchPickler(f, protocol)
    p.dump(obj)
    storages = [s for _, s in sorted(p.keys.values(), key=lambda kv: int(kv[0]))]
    return f.getvalue(), [(str(i), s.data()) for i, s in enumerate(storages)]


MODULE_CLASSES = {}


def module(qualified, modules=None, parameters=None, buffers=None, **attributes):
    mod, _, name = qualified.rpartition(".")
    cls = MODULE_CLASSES.get(qualified) or fake_class(mod, name)
    MODULE_CLASSES[qualified] = cls
    obj = cls.__new__(cls)
    obj.__dict__.update({"training": False, "_parameters": collections.OrderedDict(parameters or {}),
                         "_buffers": collections.OrderedDict(buffers or {}),
                         "_modules": collections.OrderedDict(modules or {})})
    obj.__dict__.update(attributes)
    return obj


class Weights:
    """Deterministic small values."""

    def __init__(self):
        self.n = 0

    def values(self, count, lo=-0.5, hi=0.5):
        out = []
        for _ in range(count):
            self.n += 1
            out.append(lo + (hi - lo) * ((self.n * 2654435761) % 10007) / 10007)
        return out


def conv2d(w, cin, cout, k=1, s=1, p=0, groups=1, bias=False):
    params = {"weight": Parameter(Tensor(w.values(cout * cin // groups * k * k), (cout, cin // groups, k, k)))}
    params["bias"] = Parameter(Tensor(w.values(cout), (cout,))) if bias else None
    # Only the attributes the loader reads (seeds must stay below the fuzzer's -max_len).
    return module("torch.nn.modules.conv.Conv2d", parameters=params, stride=(s, s), padding=(p, p), dilation=(1, 1),
                  groups=groups)


SILU = None


def conv(w, cin, cout, k=1, s=1, groups=1, **extra):
    global SILU
    if SILU is None:
        SILU = module("torch.nn.modules.activation.SiLU", inplace=True)
    bn = module("torch.nn.modules.batchnorm.BatchNorm2d",
                parameters={"weight": Parameter(Tensor(w.values(cout, 0.5, 1.5), (cout,))),
                            "bias": Parameter(Tensor(w.values(cout), (cout,)))},
                buffers={"running_mean": Tensor(w.values(cout), (cout,)),
                         "running_var": Tensor(w.values(cout, 0.5, 2), (cout,)),
                         "num_batches_tracked": Tensor([0], (), fmt="q")},
                eps=0.001)
    return module("ultralytics.nn.modules.conv.Conv", {"conv": conv2d(w, cin, cout, k, s, k // 2, groups), "bn": bn, "act": SILU},
                  **extra)


def seq(*children, qualified="torch.nn.modules.container.Sequential"):
    return module(qualified, {str(i): c for i, c in enumerate(children)})


def detect(w, channels, nc, reg_max, strides, f):
    c2, c3 = max(4, 4 * reg_max), max(channels[0], nc)
    cv2 = module("torch.nn.modules.container.ModuleList",
                 {str(i): seq(conv(w, c, c2, 3), conv2d(w, c2, 4 * reg_max, bias=True)) for i, c in enumerate(channels)})
    cv3 = module("torch.nn.modules.container.ModuleList",
                 {str(i): seq(conv(w, c, c3, 3), conv2d(w, c3, nc, bias=True)) for i, c in enumerate(channels)})
    mods = {"cv2": cv2, "cv3": cv3}
    if reg_max > 1:
        dfl = conv2d(Weights(), reg_max, 1)
        dfl._parameters["weight"] = Parameter(Tensor(list(range(reg_max)), (1, reg_max, 1, 1)))
        mods["dfl"] = module("ultralytics.nn.modules.block.DFL", {"conv": dfl}, c1=reg_max)
    else:
        mods["dfl"] = module("torch.nn.modules.linear.Identity")
    stride = Tensor([float(s) for s in strides], (len(strides),))
    return module("ultralytics.nn.modules.head.Detect", mods, nc=nc, reg_max=reg_max, stride=stride, f=f, i=0)


def detection_model(layers, names):
    m = module("ultralytics.nn.tasks.DetectionModel", {"model": seq(*layers)}, names=names)
    # The stride tensor first in the state, so that its storage is the first one (key "0"): a pickle-form seed
    # then only needs the stride values after STOP; every other storage gets the harness's index pattern.
    state = {"stride": layers[-1].stride}
    state.update(m.__dict__)
    m.__dict__.clear()
    m.__dict__.update(state)
    return m


def checkpoint(model):
    return {"date": "2025-01-01", "version": "8.3.0", "model": model, "ema": None, "train_args": {"imgsz": 64}}


def ultralytics_models():
    w = Weights()
    # A: five stride-2 Convs (a 2×2 map for a 64×64 input) → Detect, one level (stride 32), reg_max 1.
    a = detection_model([conv(w, 3, 4, 3, 2, f=-1, i=0), conv(w, 4, 4, 3, 2, f=-1, i=1), conv(w, 4, 8, 3, 2, f=-1, i=2),
                         conv(w, 8, 8, 3, 2, f=-1, i=3), conv(w, 8, 8, 3, 2, f=-1, i=4),
                         detect(w, [8], 1, 1, [32], f=[4])], {0: "thing"})
    # B: C2f, SPPF, Upsample, Concat and a two-level DFL head (strides 16 and 32, reg_max 4).
    c2f = module("ultralytics.nn.modules.block.C2f",
                 {"cv1": conv(w, 8, 8, 1), "cv2": conv(w, 12, 8, 1),
                  "m": module("torch.nn.modules.container.ModuleList",
                              {"0": module("ultralytics.nn.modules.block.Bottleneck", {"cv1": conv(w, 4, 4, 3), "cv2": conv(w, 4, 4, 3)}, add=True)})},
                 c=4, f=-1, i=4)
    pool = module("torch.nn.modules.pooling.MaxPool2d", kernel_size=5, stride=1, padding=2)
    sppf = module("ultralytics.nn.modules.block.SPPF", {"cv1": conv(w, 8, 4, 1), "cv2": conv(w, 16, 8, 1), "m": pool}, f=-1, i=6)
    up = module("torch.nn.modules.upsampling.Upsample", scale_factor=2.0, mode="nearest", f=-1, i=7)
    cat = module("ultralytics.nn.modules.conv.Concat", d=1, f=[-1, 4], i=8)
    b = detection_model([conv(w, 3, 4, 3, 2, f=-1, i=0), conv(w, 4, 8, 3, 2, f=-1, i=1), conv(w, 8, 8, 3, 2, f=-1, i=2),
                         conv(w, 8, 8, 3, 2, f=-1, i=3), c2f, conv(w, 8, 8, 3, 2, f=-1, i=5), sppf, up, cat,
                         conv(w, 16, 8, 3, 1, f=-1, i=9), detect(w, [8, 8], 2, 4, [16, 32], f=[9, 6])], {0: "cat", 1: "dog"})
    return {"ultra_a": a, "ultra_b": b}


def pt_zip(pickle_bytes, storages, prefix="archive"):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        def add(name, data):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
        add(f"{prefix}/data.pkl", pickle_bytes)
        add(f"{prefix}/byteorder", b"little")
        for key, data in storages:
            add(f"{prefix}/data/{key}", data)
        add(f"{prefix}/version", b"3\n")
    return f.getvalue()


def torch_seeds():
    s = {}
    basic = {"int": 1, "neg": -5, "big": 2 ** 70, "float": 1.5, "str": "héllo", "bytes": b"\x00\x01", "none": None,
             "bool": True, "tuple": (1, 2, 3), "list": [1, [2, [3]]], "set": {1, 2}, "frozen": frozenset({3}),
             "od": collections.OrderedDict(a=1)}
    for proto in range(6):
        s[f"basic_p{proto}.pkl"] = pickle.dumps(basic, protocol=proto)
    t = Tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    data, storages = torch_pickle({"t": t, "p": Parameter(Tensor([1.0, 2.0], (2,))), "view": Tensor(None, (2, 2), stride=(1, 2), offset=1, storage=t.storage)})
    s["tensors.pkl"] = data + b"".join(d for _, d in storages)
    s["tensors_pattern_storage.pkl"] = data
    half, hs = torch_pickle({"h": Tensor([1.0, -2.0, 0.5], (3,), fmt="e"), "l": Tensor([7, 8], (2,), fmt="q"), "b": Tensor([1, 0, 1], (3,), fmt="B")})
    s["dtypes.pkl"] = half + b"".join(d for _, d in hs)
    s["nested_lists.pkl"] = pickle.dumps(eval("[" * 60 + "]" * 60), protocol=2)
    shared = [1, 2]
    s["memo_shared.pkl"] = pickle.dumps({"a": shared, "b": shared, "c": (shared, shared)}, protocol=4)
    # Hostile: REDUCE of a callable that is not on the allow-list.
    s["reduce_os_system.pkl"] = b"\x80\x02cos\nsystem\nX\x08\x00\x00\x00rm -rf /\x85R."
    s["unknown_opcode.pkl"] = b"\x80\x02\xff."
    for name, model in ultralytics_models().items():
        data, storages = torch_pickle(checkpoint(model))
        s[f"{name}.pkl"] = data + storages[0][1]  # the strides; other storages: the harness's pattern
        if name == "ultra_a":
            s[f"{name}.pt"] = pt_zip(data, storages)
    data, storages = torch_pickle({"t": t})
    s["tensor_checkpoint.pt"] = pt_zip(data, storages)
    s["zip_dotdot_path.pt"] = pt_zip(data, storages, prefix="../evil")
    s["zip_missing_storage.pt"] = pt_zip(data, [])
    return s


def regression_fixtures():
    """Inputs behind bugs fixed in the loaders (found by fuzzing or while writing the harnesses), in the torch
    harness's pickle form; Tests/YOLOKitTests/HostileInputTests.testFuzzRegressions replays them."""
    s = {}
    w = Weights()

    def model_a(first_layers, first_index=0):
        layers = list(first_layers)
        n = len(layers)
        layers += [conv(w, 3, 4, 3, 2, f=-1, i=n), conv(w, 4, 4, 3, 2, f=-1, i=n + 1), conv(w, 4, 8, 3, 2, f=-1, i=n + 2),
                   conv(w, 8, 8, 3, 2, f=-1, i=n + 3), conv(w, 8, 8, 3, 2, f=-1, i=n + 4),
                   detect(w, [8], 1, 1, [32], f=[n + 4])]
        return detection_model(layers, {0: "thing"})

    def pickle_form(model):
        data, storages = torch_pickle(checkpoint(model))
        return data + storages[0][1]  # the strides first; the rest: the harness's pattern

    # C2f whose cv1 gives an odd channel count: splitting it in halves used to overflow the route layer's output.
    c2f = module("ultralytics.nn.modules.block.C2f",
                 {"cv1": conv(w, 3, 7, 1), "cv2": conv(w, 11, 3, 1),
                  "m": module("torch.nn.modules.container.ModuleList",
                              {"0": module("ultralytics.nn.modules.block.Bottleneck", {"cv1": conv(w, 4, 4, 3), "cv2": conv(w, 4, 4, 3)}, add=True)})},
                 c=4, f=-1, i=0)
    s["torch-c2f-odd-split.pkl"] = pickle_form(model_a([c2f]))
    # Bottleneck adding its input (3 channels) to a 6-channel output: used to read past the smaller map.
    bottleneck = module("ultralytics.nn.modules.block.Bottleneck", {"cv1": conv(w, 3, 4, 3), "cv2": conv(w, 4, 6, 3)}, add=True, f=-1, i=0)
    s["torch-residual-shape-mismatch.pkl"] = pickle_form(model_a([bottleneck, conv(w, 6, 3, 1, f=-1, i=1)]))
    # One Identity shared through 40 levels of Sequential(x, x): 2^40 paths, a few hundred bytes of pickle.
    dag = module("torch.nn.modules.linear.Identity")
    for _ in range(40):
        dag = seq(dag, dag)
    dag.__dict__["f"], dag.__dict__["i"] = -1, 0
    s["torch-shared-module-dag.pkl"] = pickle_form(model_a([dag]))
    # Conv weights viewed with stride 0 from one-element storages: 8192 filters that cost nothing to store
    # (about 110 MB of activations at the 64×64 load-time check) but about 11 GB for a 640×640 input.
    def expanded_conv(cin, cout, i):
        c = conv(w, 3, 4, 3, 2, f=-1, i=i)
        c._modules["conv"]._parameters["weight"] = Parameter(Tensor([0.01], (cout, cin, 3, 3), stride=(0, 0, 0, 0)))
        bn = c._modules["bn"]
        for name in ("weight", "bias"):
            bn._parameters[name] = Parameter(Tensor([1.0], (cout,), stride=(0,)))
        for name in ("running_mean", "running_var"):
            bn._buffers[name] = Tensor([1.0], (cout,), stride=(0,))
        return c
    layers = [expanded_conv(3, 8192, 0), expanded_conv(8192, 8, 1), conv(w, 8, 8, 3, 2, f=-1, i=2),
              conv(w, 8, 8, 3, 2, f=-1, i=3), conv(w, 8, 8, 3, 2, f=-1, i=4), detect(w, [8], 1, 1, [32], f=[4])]
    s["torch-expanded-weight-view.pkl"] = pickle_form(detection_model(layers, {0: "thing"}))
    # A P6-style head (largest stride 64): the letterbox pads to multiples of 32, which crashed preprocessing.
    data, storages = torch_pickle(checkpoint(ultralytics_models()["ultra_a"]))
    s["torch-stride-64.pkl"] = data + struct.pack("<f", 64.0)
    # Weights header whose major·10 + minor overflowed Int32 (found by the darknet-weights fuzzer).
    s["darknet-weights-header-overflow.weights"] = struct.pack("<iiiI", 0x74747474, 0x74747474, 0, 0) + bytes(8)
    return s


# ----------------------------------------------------------------------------------------------------------
# Safetensors
# ----------------------------------------------------------------------------------------------------------

def safetensors_file(tensors, metadata=None, pad=True):
    """A safetensors file laid out as the reference writer does (tensors: [(name, dtype, shape, bytes)])."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    """File form, and the harness's header form: JSON text, NUL, data (see Fuzz/FuzzSafetensors.swift)."""
    s = {}
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    s["f32.safetensors"] = safetensors_file([("w", "F32", [2, 2], f32)])
    s["all_dtypes.safetensors"] = safetensors_file(
        [(f"t.{d.lower()}", d, [2], bytes(range(2 * n))) for d, n in
         [("U64", 8), ("I64", 8), ("F64", 8), ("F32", 4), ("U32", 4), ("I32", 4), ("BF16", 2), ("F16", 2), ("U16", 2),
          ("I16", 2), ("I8", 1), ("U8", 1), ("BOOL", 1)]],
        metadata={"format": "pt", "names": '{"0": "person"}'})
    s["scalar_and_empty.safetensors"] = safetensors_file([("s", "I64", [], struct.pack("<q", -1)), ("e", "F16", [0, 3], b"")])
    s["empty.safetensors"] = safetensors_file([])
    s["metadata_only.safetensors"] = safetensors_file([], metadata={"k": "v\n\u00e9"})
    s["unpadded.safetensors"] = safetensors_file([("w", "F32", [2, 2], f32)], pad=False)
    overlap = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    s["overlap.safetensors"] = struct.pack("<Q", len(overlap)) + overlap + bytes(12)
    s["huge_length.safetensors"] = struct.pack("<Q", 2 ** 63) + b"{}"
    def header_form(header, data=b""):
        return json.dumps(header, separators=(",", ":")).encode() + b"\0" + data
    s["h_f32.json"] = header_form({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, f32)
    s["h_meta.json"] = header_form({"__metadata__": {"a": "b"}, "x": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [0, 4]},
                                    "y": {"dtype": "U8", "shape": [3], "data_offsets": [4, 7]}}, bytes(7))
    s["h_gap.json"] = header_form({"w": {"dtype": "I32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8))
    s["h_escapes.json"] = b'{"\\u00e9\\ud83d\\ude00\\n":{"dtype":"I8","shape":[1],"data_offsets":[0,1],"x":[true,false,null,1.5e3]}}\0\x01'
    return s


# ----------------------------------------------------------------------------------------------------------

def write(out, target, seeds):
    d = os.path.join(out, target)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    total = sum(len(v) for v in seeds.values())
    print(f"{target}: {len(seeds)} seeds, {total} bytes, largest {max(len(v) for v in seeds.values())}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "Fuzz/corpus"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        codecs = Codecs(tmp)
        write(args.out, "image", image_seeds(codecs))
    write(args.out, "darknet-cfg", cfg_seeds())
    write(args.out, "darknet-weights", weights_seeds())
    write(args.out, "torch", torch_seeds())
    write(args.out, "safetensors", safetensors_seeds())
    regressions = os.path.join(ROOT, "Tests/Fixtures/fuzz-regressions")
    os.makedirs(regressions, exist_ok=True)
    for name, data in sorted(regression_fixtures().items()):
        with open(os.path.join(regressions, name), "wb") as f:
            f.write(data)
    print(f"fuzz-regressions: {len(regression_fixtures())} generated fixtures")


if __name__ == "__main__":
    main()
