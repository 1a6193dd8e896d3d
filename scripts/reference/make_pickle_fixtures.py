#!/usr/bin/env python3
"""Generates the pickle / torch checkpoint fixtures in Tests/Fixtures/pickle/ (deterministic).

Usage:  .venv/bin/python scripts/reference/make_pickle_fixtures.py   (from the repository root)

Files (all small):
* basic_p{0,1,2,3,4,5}.pkl   Python `pickle.dumps(BASIC, protocol=p)` of the same plain-data object (below), so
                             the Swift test can check one expected value against every protocol's opcode mix
                             (text INT/LONG/FLOAT/UNICODE/GET/PUT/LIST/DICT/TUPLE in 0/1, BIN* in 2+, FRAME /
                             MEMOIZE / STACK_GLOBAL / EMPTY_SET / FROZENSET / SHORT_BINUNICODE in 4+, BYTEARRAY8 in 5).
                             `bytes`/`bytearray` members exist only where the protocol has an opcode for them.
* tiny_checkpoint.pt         `torch.save` of an OrderedDict of tensors of every dtype the reader supports, a
                             transposed (non-contiguous) view, an offset view, a 0-d tensor, an empty tensor, a
                             Parameter, and a small nn.Sequential(Conv2d, BatchNorm2d, SiLU) module.
* tiny_checkpoint.json       expected shape / dtype / row-major values (as float64) of every tensor above.
* legacy.pt                  a tensor saved with the legacy (non-zip) torch.save format (must be rejected clearly;
                             its bytes differ on every run: the legacy format embeds random keys).
* fall_yolov8s_golden.json   facts and a few fp16 weight values of Models/fall-yolov8s.pt as PyTorch loads them
                             (only when that model has been fetched; the file is kept otherwise).

Torch is optional: without it only the basic_*.pkl files are rewritten.
"""
import collections
import json
import math
import os
import pickle
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "pickle")


def basic_object(protocol):
    shared = [7, "seven"]
    obj = {
        "int": 1,
        "neg": -5,
        "i2": 40000,
        "i4": -2_000_000_000,
        "big": 2**40,
        "neg_big": -(2**62),
        "float": 1.5,
        "neg_float": -0.1,
        "str": "h\u00e9llo \u2603 \U0001F600\n\\u",
        "empty_str": "",
        "list": [1, 2, 3],
        "long_list": list(range(1100)),      # > 1000: several APPENDS batches
        "tuple0": (),
        "tuple1": (1,),
        "tuple2": (1, 2),
        "tuple3": (1, 2, 3),
        "tuple4": (1, 2, 3, 4),
        "set": {3, 1, 2},
        "frozenset": frozenset({5}),
        "none": None,
        "true": True,
        "false": False,
        "nested": [[1, [2, [3, {"k": (4,)}]]]],
        "shared": [shared, shared],
        "od": collections.OrderedDict([("b", 2), ("a", 1)]),
        "int_keys": {0: "Normal", 1: "Fall"},
        "big_dict": {f"k{i}": i for i in range(1050)},  # > 1000: several SETITEMS batches
    }
    if protocol >= 3:
        obj["bytes"] = b"\x00\x01\xff"
        obj["long_bytes"] = bytes(range(256)) * 2
    if protocol >= 5:
        obj["bytearray"] = bytearray(b"ab")
    return obj


def write_basic():
    for p in range(6):
        data = pickle.dumps(basic_object(p), protocol=p)
        with open(os.path.join(OUT, f"basic_p{p}.pkl"), "wb") as f:
            f.write(data)
        assert pickle.loads(data) == basic_object(p)


def tensor_entry(t):
    return {
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "offset": t.storage_offset(),
        "dtype": str(t.dtype).replace("torch.", ""),
        # JSON has no infinities / NaN: those are written as the strings "inf", "-inf", "nan".
        "values": [v if math.isfinite(v) else str(v) for v in (float(x) for x in t.detach().to("cpu").double().flatten().tolist())],
    }


def write_torch():
    import torch

    torch.manual_seed(0)
    base = (torch.arange(12, dtype=torch.float32).reshape(3, 4) - 5) / 4   # exact in fp16 / bf16
    tensors = collections.OrderedDict()
    tensors["f32"] = base.clone()
    tensors["f16"] = base.half()
    tensors["bf16"] = base.bfloat16()
    tensors["f64"] = base.double() / 3
    tensors["i64"] = torch.tensor([-(2**40), -1, 0, 7], dtype=torch.int64)
    tensors["i32"] = torch.tensor([[-3, 4], [5, -6]], dtype=torch.int32)
    tensors["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    tensors["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    tensors["u8"] = torch.tensor([0, 255, 9], dtype=torch.uint8)
    tensors["bool"] = torch.tensor([True, False, True])
    tensors["transposed"] = tensors["f32"].t()                   # shares f32's storage, strides (1, 4)
    tensors["offset_view"] = tensors["f32"][1:, 1:3]             # offset 5, strides (4, 1)
    tensors["scalar"] = torch.tensor(3.25)
    tensors["empty"] = torch.zeros(0, 3)
    tensors["half_subnormal"] = torch.tensor([6e-8, -6e-8, 65504.0, float("inf"), -0.0], dtype=torch.float16)
    tensors["param"] = torch.nn.Parameter(torch.ones(2, 2) * 0.5)
    module = torch.nn.Sequential(torch.nn.Conv2d(2, 3, kernel_size=3, stride=2, padding=1, bias=False),
                                 torch.nn.BatchNorm2d(3), torch.nn.SiLU())
    with torch.no_grad():
        module[0].weight.copy_(torch.arange(54, dtype=torch.float32).reshape(3, 2, 3, 3) / 64)
        module[1].running_var.fill_(2.0)
    module.eval()
    checkpoint = {"tensors": tensors, "module": module, "epoch": 3, "note": "tiny"}

    path = os.path.join(OUT, "tiny_checkpoint.pt")
    torch.save(checkpoint, path)
    expected = {name: tensor_entry(t) for name, t in tensors.items()}
    expected["module.0.weight"] = tensor_entry(module[0].weight)
    expected["module.1.running_var"] = tensor_entry(module[1].running_var)
    expected["module.1.num_batches_tracked"] = tensor_entry(module[1].num_batches_tracked)
    with open(os.path.join(OUT, "tiny_checkpoint.json"), "w") as f:
        json.dump({"torch": torch.__version__, "tensors": expected}, f, indent=1)
        f.write("\n")
    # Self-check: it round-trips in PyTorch.
    back = torch.load(path, weights_only=False)
    assert torch.equal(back["tensors"]["transposed"], tensors["transposed"])

    torch.save({"a": torch.ones(2)}, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)


def write_real_model_golden():
    model_path = os.path.join(ROOT, "Models", "fall-yolov8s.pt")
    if not os.path.exists(model_path):
        print("Models/fall-yolov8s.pt not fetched: keeping fall_yolov8s_golden.json")
        return
    import torch

    ckpt = torch.load(model_path, map_location="cpu", weights_only=False)   # trusted, project-fetched file
    model = ckpt["model"]
    conv0 = model.model[0].conv.weight
    detect = model.model[22]
    dfl = detect.dfl.conv.weight
    golden = {
        "torch": torch.__version__,
        "model_class": type(model).__module__ + "." + type(model).__name__,
        "names": {str(k): v for k, v in model.names.items()},
        "stride": [float(v) for v in model.stride.tolist()],
        "layers": [type(m).__name__ for m in model.model],
        "conv0_weight": {"shape": list(conv0.shape), "dtype": str(conv0.dtype),
                         "first16": [float(v) for v in conv0.float().flatten()[:16].tolist()],
                         "sum": float(conv0.float().sum().item())},
        "detect_dfl_weight_first8": [float(v) for v in dfl.float().flatten()[:8].tolist()],
        "model_22_cv3_2_2_bias": [float(v) for v in detect.cv3[2][2].bias.float().tolist()],
        "num_tensors_in_model": sum(1 for _ in model.state_dict()),
    }
    with open(os.path.join(OUT, "fall_yolov8s_golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_basic()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch not available: only basic_*.pkl written", file=sys.stderr)
        return
    write_torch()
    write_real_model_golden()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes to {OUT}")


if __name__ == "__main__":
    main()
