"""Scale of header-only work: a safetensors file of N tiny tensors (default 100k and 1M).

Prints, for each N, the median of several runs of:

- the reference library's header parse as its user writes it, as a whole process:
  ``safe_open(path, "np")``, then every name's ``get_slice(name).get_shape()`` and
  ``.get_dtype()``;
- paramtool's validating header parse (``read_header``) and ``open_checkpoint``, in-process,
  beside the same reference loop in-process;
- the whole ``paramtool inspect --json``, ``paramtool inspect`` (output piped),
  ``paramtool stats`` (piped) and ``paramtool stats --json`` processes;

with CPU and wall seconds, peak RSS (``/usr/bin/time``'s ``%M``, from ``wait4``), and the ratios
of CPU seconds to the reference. Linear scaling shows as equal per-tensor times across N.

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


REFERENCE = """
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], "np") as f:
    for name in f.keys():
        part = f.get_slice(name)
        part.get_shape(), part.get_dtype()
"""


def process(command: list[str], runs: int) -> tuple[float, float, float]:
    """Median wall and CPU seconds, and peak RSS (MB), of a process (output discarded)."""
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        cpus.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"{' '.join(command)} failed")
    return statistics.median(walls), statistics.median(cpus), max(peaks)


def paramtool(*args: str) -> list[str]:
    return [sys.executable, "-m", "paramtool", *args]


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
            figures = [
                (
                    "reference header parse (process)",
                    process([sys.executable, "-c", REFERENCE, str(path)], options.runs),
                ),  # fmt: skip
                (
                    "inspect --json (process)",
                    process(paramtool("inspect", str(path), "--json"), options.runs),
                ),  # fmt: skip
                (
                    "inspect, piped (process)",
                    process(paramtool("inspect", str(path)), options.runs),
                ),  # fmt: skip
                ("stats, piped (process)", process(paramtool("stats", str(path)), options.runs)),
                (
                    "stats --json (process)",
                    process(paramtool("stats", str(path), "--json"), options.runs),
                ),  # fmt: skip
            ]
            report(n, path, figures, options.runs)


def report(n: int, path: Path, figures: list[tuple[str, tuple]], runs: int) -> None:
    """Measure the in-process parses and print everything, ratios on CPU seconds."""
    from safetensors import safe_open

    from paramtool.checkpoint import open_checkpoint, read_header

    def reference() -> None:
        with safe_open(str(path), framework="numpy") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                part = f.get_slice(name)
                part.get_shape(), part.get_dtype()

    ref = median_time(reference, runs)
    rows = [
        ("reference parse (in-process)", ref, ref[1], None),
        ("read_header", median_time(lambda: read_header(path), runs), ref[1], None),
        ("open_checkpoint", median_time(lambda: open_checkpoint(path), runs), ref[1], None),
    ]
    ref_process = figures[0][1][1]
    rows += [(label, (wall, cpu), ref_process, rss) for label, (wall, cpu, rss) in figures]
    print(f"{n:,} tensors (file {path.stat().st_size / 1e6:.0f} MB), medians of {runs}")
    for label, (wall, cpu), base, rss in rows:
        peak = f", peak RSS {rss:.0f} MB" if rss is not None else ""
        print(
            f"  {label:32s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  x{cpu / base:5.1f} cpu of "
            f"reference  ({cpu / n * 1e6:.1f} us/tensor){peak}"
        )


if __name__ == "__main__":
    main()
