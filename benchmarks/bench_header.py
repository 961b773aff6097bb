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


def median_time(func: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``func`` in this process."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def process(args: list[str], runs: int) -> tuple[float, float, float]:
    """Median wall and CPU seconds, and peak RSS (MB), of ``python -m paramtool ARGS``."""
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "paramtool", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        cpus.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"paramtool {' '.join(args)} failed")
    return statistics.median(walls), statistics.median(cpus), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", metavar="PATH", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.write:
        write_file(Path(options.write), options.sizes[0])
        return
    with tempfile.TemporaryDirectory() as folder:
        for n in options.sizes:
            path = Path(folder) / f"{n}.safetensors"
            # written by a child and measured before anything is loaded here: a forked child
            # starts with its parent's peak RSS
            subprocess.run([sys.executable, __file__, str(n), "--write", str(path)], check=True)
            inspect = process(["inspect", str(path), "--json"], options.runs)
            stats = process(["stats", str(path)], options.runs)
            report(n, path, inspect, stats, options.runs)


def report(n: int, path: Path, inspect: tuple, stats: tuple, runs: int) -> None:
    """Measure the in-process parses and print everything, ratios on CPU seconds."""
    from safetensors import safe_open

    from paramtool.checkpoint import open_checkpoint, read_header

    def reference() -> None:
        with safe_open(str(path), framework="numpy") as f:
            list(f.keys())

    ref = median_time(reference, runs)
    rows = [
        ("reference safe_open + keys", ref, None),
        ("read_header", median_time(lambda: read_header(path), runs), None),
        ("open_checkpoint", median_time(lambda: open_checkpoint(path), runs), None),
        ("inspect --json (process)", inspect[:2], inspect[2]),
        ("stats (process)", stats[:2], stats[2]),
    ]
    print(f"{n:,} tensors (file {path.stat().st_size / 1e6:.0f} MB), medians of {runs}")
    for label, (wall, cpu), rss in rows:
        peak = f", peak RSS {rss:.0f} MB" if rss is not None else ""
        print(
            f"  {label:28s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  x{cpu / ref[1]:5.1f} cpu of "
            f"reference  ({cpu / n * 1e6:.1f} us/tensor){peak}"
        )


if __name__ == "__main__":
    main()
