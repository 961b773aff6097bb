"""Whole-process start-up of the command line: wall time and peak memory, medians of 5.

Each command runs as its own process (``python -m paramtool ...``), after one warm-up run
that leaves the bytecode caches written, as an installed package has them (in a scratch
``PYTHONPYCACHEPREFIX``, with ``PYTHONDONTWRITEBYTECODE`` unset for the children: without
bytecode caches every run compiles every module, which costs more than the work measured). Peak memory is
the child's own maximum resident set size (``os.wait4``). Baselines measured in the same run:
``python -c pass``, ``import numpy`` and ``import ml_dtypes`` (which paramtool imports only for
bfloat16/float8 tensors).

Run: ``python benchmarks/bench_startup.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

#: (label, argv, target wall seconds or None, target peak MB or None)
CASES: list[tuple[str, list[str], float | None, float | None]] = [
    ("python -c pass", [PY, "-c", "pass"], None, None),
    ("import numpy", [PY, "-c", "import numpy"], None, None),
    ("import ml_dtypes", [PY, "-c", "import ml_dtypes"], None, None),
    ("paramtool --help", [PY, "-m", "paramtool", "--help"], 0.15, None),
    ("paramtool --version", [PY, "-m", "paramtool", "--version"], None, None),
    (
        "inspect llama.py --arg size=70b",
        [PY, "-m", "paramtool", "inspect", "sample_models/llama.py", "--arg", "size=70b"],
        0.3,
        60.0,
    ),
    (
        "inspect llama.py --arg size=70b --json",
        [PY, "-m", "paramtool", "inspect", "sample_models/llama.py", "--arg", "size=70b", "--json"],
        None,
        None,
    ),
]


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench_startup_pycache_")


def run_once(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident MB of one process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {child.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    print(f"python {sys.version.split()[0]}, numpy {metadata.version('numpy')}, "
          f"ml_dtypes {metadata.version('ml_dtypes')}, click {metadata.version('click')}, "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(
        f"{'command':40} {'wall (median)':>14} {'/ numpy':>8} {'CPU':>8} {'peak RSS':>10}  target"
    )
    numpy_wall = None
    for label, argv, wall_target, rss_target in CASES:
        run_once(argv)  # warm-up: bytecode caches written
        runs = [run_once(argv) for _ in range(repeat)]
        wall = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        rss = statistics.median(r for _, _, r in runs)
        numpy_wall = wall if label == "import numpy" else numpy_wall
        ratio = f"{wall / numpy_wall:7.2f}x" if numpy_wall else " " * 8
        targets = []
        if wall_target is not None:
            targets.append(f"<= {wall_target} s {'ok' if wall <= wall_target else 'MISSED'}")
        if rss_target is not None:
            targets.append(f"<= {rss_target:.0f} MB {'ok' if rss <= rss_target else 'MISSED'}")
        print(f"{label:40} {wall:12.3f} s {ratio} {cpu:6.3f} s {rss:7.1f} MB  {', '.join(targets)}")
    print(
        f"load average after: {os.getloadavg()[0]:.2f} (figures above ~{os.cpu_count()} "
        "are inflated by other work on the machine)"
    )


if __name__ == "__main__":
    main()
