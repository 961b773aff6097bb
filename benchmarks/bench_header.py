"""Scale of header-only work: a safetensors file of N tiny tensors (default 100k and 1M).

Prints, for each N, the median of several runs of:

- the reference library opening the file and listing its names (``safe_open`` + ``keys()``);
- paramtool's validating header parse (``read_header``) and ``open_checkpoint``;
- the whole ``paramtool inspect --json`` and ``paramtool stats`` processes (wall time and
  peak RSS, with ``/usr/bin/time``-style accounting from ``wait4``);

and the ratios to the reference. Linear scaling shows as equal per-tensor times across N.

    python benchmarks/bench_header.py [N ...] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_file(path: Path, n: int) -> None:
    """N float32 scalars-as-vectors named like a model's layers (``layers.12.w3``)."""
    header = {
        f"layers.{i // 10}.w{i % 10}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
        for i in range(n)
    }  # fmt: skip
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.write(np.arange(n, dtype=np.float32).tobytes())


def median_time(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def process(args: list[str], runs: int) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MB) of ``python -m paramtool ARGS``."""
    walls, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "paramtool", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"paramtool {' '.join(args)} failed")
    return statistics.median(walls), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    from safetensors import safe_open

    from paramtool.checkpoint import open_checkpoint, read_header

    def reference(path: Path) -> None:
        with safe_open(str(path), framework="numpy") as f:
            list(f.keys())

    with tempfile.TemporaryDirectory() as folder:
        for n in options.sizes:
            path = Path(folder) / f"{n}.safetensors"
            write_file(path, n)
            ref = median_time(lambda p=path: reference(p), options.runs)
            parse = median_time(lambda p=path: read_header(p), options.runs)
            opened = median_time(lambda p=path: open_checkpoint(p), options.runs)
            inspect_wall, inspect_rss = process(["inspect", str(path), "--json"], options.runs)
            stats_wall, stats_rss = process(["stats", str(path)], options.runs)
            header_mb = path.stat().st_size / 1e6
            print(f"{n:,} tensors (file {header_mb:.0f} MB)")
            print(f"  reference safe_open + keys   {ref:8.2f} s  ({ref / n * 1e6:.1f} us/tensor)")
            print(f"  read_header                  {parse:8.2f} s  x{parse / ref:.2f} of reference")
            print(
                f"  open_checkpoint              {opened:8.2f} s  x{opened / ref:.2f} of reference"
            )
            print(f"  inspect --json (process)     {inspect_wall:8.2f} s  x{inspect_wall / ref:.2f}, peak RSS {inspect_rss:.0f} MB ({inspect_wall / n * 1e6:.1f} us/tensor)")  # fmt: skip
            print(f"  stats (process)              {stats_wall:8.2f} s  x{stats_wall / ref:.2f}, peak RSS {stats_rss:.0f} MB ({stats_wall / n * 1e6:.1f} us/tensor)")  # fmt: skip


if __name__ == "__main__":
    main()
