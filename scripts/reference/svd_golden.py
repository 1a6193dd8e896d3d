#!/usr/bin/env python3
"""Golden for the compression tests' SVD: numpy's singular values and best low-rank approximations of two seeded
matrices shaped like conv weights W[Cout, Cin*k*k] (one full-rank 20x36, one of rank 6 plus tiny noise, 24x16).

Run: .venv/bin/python scripts/reference/svd_golden.py  (writes Tests/Fixtures/compression/svd.json; small, generated)."""
import json
import pathlib

import numpy as np

rng = np.random.default_rng(20261201)
cases = []
for name, (m, n), rank in [("full", (20, 36), None), ("rank6", (24, 16), 6)]:
    if rank is None:
        a = rng.standard_normal((m, n)).astype(np.float32)
    else:
        a = (rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) + 1e-4 * rng.standard_normal((m, n))).astype(np.float32)
    u, s, vt = np.linalg.svd(a.astype(np.float64), full_matrices=False)
    approx = {}
    for r in (1, 5, 6, 12):
        if r <= min(m, n):
            low = (u[:, :r] * s[:r]) @ vt[:r]
            approx[str(r)] = {"matrix": low.astype(np.float32).ravel().tolist(),
                              "error_squared": float(((a.astype(np.float64) - low) ** 2).sum())}
    cases.append({"name": name, "rows": m, "columns": n, "matrix": a.ravel().tolist(), "sigma": s.tolist(), "approximations": approx})
out = pathlib.Path(__file__).resolve().parents[2] / "Tests/Fixtures/compression/svd.json"
out.write_text(json.dumps({"numpy": np.__version__, "cases": cases}))
print("wrote", out)
