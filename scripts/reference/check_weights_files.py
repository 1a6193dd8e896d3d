#!/usr/bin/env python3
"""Checks the weights files YOLOKit writes against the reference readers (safetensors, torch).

The Swift test WeightsReferenceTests writes, into FOLDER:
  expected.json               every tensor (name, dtype, shape, raw bytes as hex) and the metadata
  sample.safetensors          those tensors + the metadata
  sample-plain.safetensors    the same tensors, no metadata
  sample.pt                   the tensors torch can hold, as a state dict (StateDictWriter)
  rounding.safetensors        "source" (F32) and YOLOKit's F16 / BF16 conversions of it ("f16", "bf16")

Checks (each failure is printed; exit status 1 if any):
  * safetensors.torch.load_file and safe_open give every tensor's dtype, shape and bytes, and the metadata;
  * safetensors.torch.save_file of the loaded tensors gives sample-plain.safetensors byte for byte;
  * torch.load(weights_only=True), also with mmap=True, gives an OrderedDict with the same names in order,
    dtypes, shapes and bytes, every tensor contiguous;
  * torch.save of that dict gives the same zip entries and the same data.pkl bytes (torch's random
    .data/serialization_id aside);
  * torch's .half() / .bfloat16() of "source" equal YOLOKit's conversions bit for bit (NaN only as NaN).

Usage: .venv/bin/python scripts/reference/check_weights_files.py FOLDER   (needs torch and safetensors)
"""
import collections
import json
import os
import sys
import tempfile
import zipfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "U16": torch.uint16,
    "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32, "U32": torch.uint32, "F32": torch.float32,
    "F64": torch.float64, "I64": torch.int64, "U64": torch.uint64,
}
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def raw(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def compare(what, tensors, expected):
    for e in expected:
        name = e["name"]
        t = tensors.get(name)
        if t is None:
            check(False, f"{what}: tensor {name!r} missing")
            continue
        check(t.dtype == DTYPES[e["dtype"]], f"{what}: {name}: dtype {t.dtype}, expected {e['dtype']}")
        check(list(t.shape) == e["shape"], f"{what}: {name}: shape {list(t.shape)}, expected {e['shape']}")
        check(raw(t) == bytes.fromhex(e["data"]), f"{what}: {name}: bytes differ")
    check(len(tensors) == len(expected), f"{what}: {len(tensors)} tensors, expected {len(expected)}")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    folder = sys.argv[1]
    spec = json.load(open(os.path.join(folder, "expected.json")))
    expected, metadata = spec["tensors"], spec["metadata"]

    # safetensors
    st = os.path.join(folder, "sample.safetensors")
    compare("load_file", load_file(st), expected)
    with safe_open(st, framework="pt") as f:
        check(f.metadata() == metadata, f"safe_open metadata {f.metadata()} != {metadata}")
        check(sorted(f.keys()) == sorted(e["name"] for e in expected), "safe_open keys differ")
    plain = os.path.join(folder, "sample-plain.safetensors")
    compare("load_file (plain)", load_file(plain), expected)
    with tempfile.TemporaryDirectory() as tmp:
        again = os.path.join(tmp, "again.safetensors")
        save_file(load_file(plain), again)
        check(open(again, "rb").read() == open(plain, "rb").read(), "save_file output differs from sample-plain.safetensors")

    # state dict
    pt = os.path.join(folder, "sample.pt")
    torch_expected = [e for e in expected if e["dtype"] not in ("U16", "U32", "U64")]
    for mmap in (False, True):
        sd = torch.load(pt, weights_only=True, mmap=mmap)
        what = f"torch.load(mmap={mmap})"
        check(isinstance(sd, collections.OrderedDict), f"{what}: {type(sd)} is not an OrderedDict")
        check(list(sd.keys()) == [e["name"] for e in torch_expected], f"{what}: names or their order differ")
        check(all(t.is_contiguous() and not t.requires_grad for t in sd.values()), f"{what}: a tensor is not contiguous or requires grad")
        compare(what, dict(sd), torch_expected)
    with tempfile.TemporaryDirectory() as tmp:
        again = os.path.join(tmp, "sample.pt")
        torch.save(torch.load(pt, weights_only=True), again)
        ours, theirs = zipfile.ZipFile(pt), zipfile.ZipFile(again)
        names = [n for n in theirs.namelist() if not n.endswith("/.data/serialization_id")]
        check(ours.namelist() == names, f"zip entries {ours.namelist()} != torch's {names}")
        for n in names:
            if n in ours.namelist():
                check(ours.read(n) == theirs.read(n), f"zip entry {n} differs from torch.save's")
        for info in ours.infolist():
            check(info.compress_type == zipfile.ZIP_STORED, f"{info.filename} is compressed")

    # F16 / BF16 rounding
    r = load_file(os.path.join(folder, "rounding.safetensors"))
    source = r["source"]
    for name, ours, theirs in (("f16", r["f16"], source.half()), ("bf16", r["bf16"], source.bfloat16())):
        nan = torch.isnan(theirs)
        check(torch.equal(torch.isnan(ours), nan), f"{name}: NaN positions differ")
        a, b = ours[~nan].view(torch.int16), theirs[~nan].view(torch.int16)
        diff = (a != b).nonzero().flatten()
        check(len(diff) == 0, f"{name}: {len(diff)} of {len(a)} values differ from torch, e.g. "
              + ", ".join(f"{source[~nan][i].item()!r}: ours {a[i].item() & 0xFFFF:#06x} torch {b[i].item() & 0xFFFF:#06x}" for i in diff[:5]))

    print(f"check_weights_files: {len(expected)} tensors, {source.numel()} rounding values, torch {torch.__version__}: "
          + ("OK" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
