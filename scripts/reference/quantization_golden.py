"""Goldens for QuantizationTests: an int8 convolution computed by PyTorch's own quantization ops.

For each case (seeded random conv, input and bias): weights quantized per output channel, symmetric
(scale = max|w| / 127, `torch.quantize_per_channel`, qint8, zero point 0); the input quantized per tensor to quint8
with scale = (max(x, 0) - min(x, 0)) / 255 and zero point round(-min / scale) (`torch.quantize_per_tensor`); the
expected output is the float64 convolution of the dequantized input and weights (zero padding) plus the bias — what
an int8 GEMM with exact int32 sums and an fp32 epilogue computes, up to fp32 rounding.

    .venv/bin/python scripts/reference/quantization_golden.py   # writes Tests/Fixtures/quantization/conv_cases.json
"""
import json
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

CASES = [  # (name, cin, h, w, cout, k, stride, pad, input range)
    ("k3s2p1", 5, 9, 11, 7, 3, 2, 1, (-1.0, 3.0)),
    ("k1s1p0", 6, 4, 5, 9, 1, 1, 0, (-0.3, 5.0)),
    ("k3s1p1", 4, 6, 6, 3, 3, 1, 1, (0.5, 2.0)),
]


def case(name, cin, h, w, cout, k, stride, pad, lo_hi, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, cin, h, w, generator=g, dtype=torch.float32) * (lo_hi[1] - lo_hi[0]) + lo_hi[0]
    weight = torch.randn(cout, cin, k, k, generator=g, dtype=torch.float32) * 0.2
    bias = torch.randn(cout, generator=g, dtype=torch.float32) * 0.1
    w_scales = weight.abs().reshape(cout, -1).amax(dim=1) / 127
    qw = torch.quantize_per_channel(weight, w_scales.double(), torch.zeros(cout, dtype=torch.long), 0, torch.qint8)
    # In float32 step by step, as ActivationQuantization(min:max:) computes them.
    low, high = np.float32(min(float(x.min()), 0.0)), np.float32(max(float(x.max()), 0.0))
    scale32 = np.float32(np.float32(high - low) / np.float32(255))
    x_scale = float(scale32)
    zero_point = int(np.rint(np.float32(-low / scale32)))
    qx = torch.quantize_per_tensor(x, x_scale, zero_point, torch.quint8)
    expected = F.conv2d(qx.dequantize().double(), qw.dequantize().double(), bias.double(), stride=stride, padding=pad)
    return {
        "name": name, "channels": cin, "height": h, "width": w, "filters": cout, "size": k, "stride": stride, "pad": pad,
        "input": x.flatten().tolist(), "weights": weight.flatten().tolist(), "bias": bias.tolist(),
        "weight_scales": w_scales.tolist(), "quantized_weights": qw.int_repr().flatten().tolist(),
        "input_scale": x_scale, "input_zero_point": zero_point, "quantized_input": qx.int_repr().flatten().tolist(),
        "expected": expected.flatten().tolist(),
    }


def main():
    warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
    root = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "quantization")
    os.makedirs(root, exist_ok=True)
    cases = [case(*c, seed=i + 1) for i, c in enumerate(CASES)]
    with open(os.path.join(root, "conv_cases.json"), "w") as f:
        json.dump({"generator": "scripts/reference/quantization_golden.py", "torch": torch.__version__, "cases": cases}, f)
    print("wrote", len(cases), "cases")


if __name__ == "__main__":
    main()
