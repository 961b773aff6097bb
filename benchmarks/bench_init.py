"""Initialisation throughput: GB/s of float32 written, paramtool vs torch.nn.init.

Both libraries fill the same preallocated, already-touched float32 memory in place, through
their public init functions; the figure is the median of ``--repeat`` runs. torch is optional:
without it only paramtool's figures are printed.

    PYTHONPATH=. python benchmarks/bench_init.py [--elements 67108864] [--orthogonal 4096] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

import paramtool
from paramtool.core import random as prandom
from paramtool.nn import init

# name -> (paramtool call, torch call taking the torch.nn.init module, target ratio)
CASES: dict[str, tuple[Callable, Callable, float]] = {
    "normal": (lambda t: init.normal_(t, 0, 0.02), lambda i, t: i.normal_(t, 0, 0.02), 1.0),
    "uniform": (lambda t: init.uniform_(t, -0.1, 0.1), lambda i, t: i.uniform_(t, -0.1, 0.1), 1.0),
    "kaiming_normal": (init.kaiming_normal_, lambda i, t: i.kaiming_normal_(t), 1.0),
    "trunc_normal": (
        lambda t: init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04),
        lambda i, t: i.trunc_normal_(t, std=0.02, a=-0.04, b=0.04),
        10.0,
    ),
    "orthogonal": (init.orthogonal_, lambda i, t: i.orthogonal_(t), 1.0),
}


def median_seconds(call: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``call`` over ``repeat`` runs, after one warm-up run."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def shape_for(case: str, elements: int, side: int) -> tuple[int, int]:
    if case == "orthogonal":
        return (side, side)
    rows = 8192
    return (rows, elements // rows)


def bench_paramtool(case: str, shape: tuple[int, int], repeat: int) -> float:
    out = np.zeros(shape, np.float32)
    tensor = paramtool.from_numpy(out)
    fill = CASES[case][0]
    return out.nbytes / median_seconds(lambda: fill(tensor), repeat) / 1e9


def bench_torch(torch, case: str, shape: tuple[int, int], repeat: int) -> float:
    tensor = torch.zeros(shape, dtype=torch.float32)
    fill = CASES[case][1]
    return tensor.numel() * 4 / median_seconds(lambda: fill(torch.nn.init, tensor), repeat) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=64 << 20)
    parser.add_argument("--orthogonal", type=int, default=4096, help="side of the square matrix")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    try:
        import torch  # noqa: PLC0415 - optional reference
    except ImportError:
        torch = None
    threads = prandom.get_num_threads()
    print(f"cpu cores: {os.cpu_count()}, paramtool threads: {threads}", end="")
    print(f", torch threads: {torch.get_num_threads()}" if torch else " (torch not installed)")
    print(
        f"{'case':<16}{'shape':>14}{'paramtool GB/s':>16}{'torch GB/s':>12}{'ratio':>8}{'target':>8}"
    )
    for case in args.cases.split(","):
        shape = shape_for(case, args.elements, args.orthogonal)
        ours = bench_paramtool(case, shape, args.repeat)
        theirs = bench_torch(torch, case, shape, args.repeat) if torch else math.nan
        ratio = ours / theirs if torch else math.nan
        target = CASES[case][2]
        print(
            f"{case:<16}{'x'.join(map(str, shape)):>14}{ours:>16.3f}{theirs:>12.3f}"
            f"{ratio:>8.2f}{'>=' + format(target, 'g'):>8}"
        )


if __name__ == "__main__":
    main()
