#!/usr/bin/env python3
"""Puts benchmark output into README.md between its <!-- NAME --> … <!-- /NAME --> markers.

    .venv/bin/python scripts/bench-peers.py --rounds 3 --json runs/bench/peers.json
    .build/release/yolo bench --backend both > runs/bench/bench.txt
    .venv/bin/python scripts/bench-batch.py > runs/bench/batch.md
    python3 scripts/readme-figures.py [--peers runs/bench/peers.json] [--bench runs/bench/bench.txt] [--batch runs/bench/batch.md]

Only the sections given are replaced; the figures are written as measured (nothing is edited by hand).
"""
import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peers_table(path: Path) -> str:
    d = json.loads(path.read_text())
    lines = [f"{d['date']}, {d['cpu']}, {d['threads']} threads; median of {d['runs']} runs per round, "
             f"min / median / max over {d['rounds']} round(s); ratio = ours / theirs per round (median), below 1: ours is faster.",
             "",
             "| model, input (h×w) | runtime | min ms | median ms | max ms | ratio (ours blas) | ratio (ours swift) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in d["rows"]:
        h, w = r["input"]
        ratios = [f"{r[k]:.2f}" if k in r else "" for k in ("ratio_blas", "ratio_swift")]
        lines.append(f"| {r['model']} {h}×{w} | {r['runtime']} | {r['min']:.1f} | {r['median']:.1f} | {r['max']:.1f} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(lines)


def replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no <!-- {name} --> … <!-- /{name} --> markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peers", type=Path)
    ap.add_argument("--bench", type=Path)
    ap.add_argument("--batch", type=Path)
    args = ap.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text()
    if args.peers:
        text = replace(text, "peers", peers_table(args.peers))
    if args.bench:
        text = replace(text, "bench", "```\n" + args.bench.read_text().rstrip("\n") + "\n```")
    if args.batch:
        text = replace(text, "batch", args.batch.read_text())
    readme.write_text(text)


if __name__ == "__main__":
    main()
