"""safetensors I/O benchmark: paramtool beside the reference library (run by hand).

    python benchmarks/bench_safetensors.py [--gb 2] [--repeat 3] [--dir /tmp]

1. Load a multi-GB file: wall time and resident-memory growth of ``paramtool.checkpoint``
   (memory-mapped) against ``safetensors.numpy.load_file`` and, when torch is installed,
   ``safetensors.torch.load_file``.
2. Export a deferred model of that size: wall time and peak resident memory of paramtool's
   streaming writer, which computes the next tensor while writing the current one (at most two
   tensors held), of the same writer one tensor after the other (``overlap=False``: one tensor
   held, generation and writing added up), and of ``safetensors.numpy.save_file``, which needs
   every array in memory.

Each measurement runs in a fresh subprocess so that resident memory is its own; medians of
``--repeat`` runs are printed, with ratios reference / paramtool.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

TENSORS = 8


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_bytes() -> int:
    # VmHWM, not ru_maxrss: the latter is inherited across exec from the parent process.
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def shapes(gb: float) -> list[tuple[str, tuple[int, int]]]:
    rows = int(gb * 2**30 / TENSORS / 4 / 4096)
    return [(f"layers.{i}.weight", (rows, 4096)) for i in range(TENSORS)]


def child_load(kind: str, path: str) -> dict[str, float]:
    if kind == "paramtool":
        from paramtool.checkpoint import load_file as load
    elif kind == "safetensors.numpy":
        from safetensors.numpy import load_file as load
    else:
        from safetensors.torch import load_file as load
    before = rss_bytes()
    start = time.perf_counter()
    tensors = load(path)
    seconds = time.perf_counter() - start
    assert len(tensors) == TENSORS
    return {"seconds": seconds, "rss_growth": rss_bytes() - before}


def child_save(kind: str, path: str, gb: float) -> dict[str, float]:
    import paramtool

    base = peak_bytes()
    start = time.perf_counter()
    if kind.startswith("paramtool"):
        from paramtool.checkpoint import write_stream

        paramtool.manual_seed(0)
        model = {name: paramtool.randn(*shape) for name, shape in shapes(gb)}  # deferred
        specs = [(name, tuple(t.shape), t.dtype) for name, t in model.items()]
        overlap = kind == "paramtool"
        write_stream(path, specs, model.__getitem__, seed=0, overlap=overlap)
    else:
        from safetensors.numpy import save_file

        model = {name: paramtool.randn(*shape).numpy() for name, shape in shapes(gb)}
        save_file(model, path)
    return {"seconds": time.perf_counter() - start, "peak_growth": peak_bytes() - base}


def run_child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(repeat: int, *args: str) -> dict[str, float]:
    runs = [run_child(*args) for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def make_file(path: Path, gb: float) -> None:
    from paramtool.checkpoint import write_stream

    specs = [(name, shape, np.float32) for name, shape in shapes(gb)]
    write_stream(path, specs, lambda name: np.full(specs[0][1], 0.5, np.float32))


def report(title: str, rows: dict[str, dict[str, float]], key: str) -> None:
    print(f"\n{title}")
    ours = rows["paramtool"]
    for kind, row in rows.items():
        ratio_t = row["seconds"] / ours["seconds"] if ours["seconds"] else float("inf")
        ratio_m = max(row[key], 2**20) / max(ours[key], 2**20)  # floor of 1 MiB
        print(
            f"  {kind:<18} {row['seconds'] * 1e3:9.1f} ms  {row[key] / 2**20:9.1f} MiB {key}"
            f"   time x{ratio_t:7.1f}  memory x{ratio_m:7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp")
    args = parser.parse_args()
    folder = Path(args.dir)
    path = folder / "paramtool_bench.safetensors"
    kinds = ["paramtool", "safetensors.numpy"]
    try:
        import torch  # noqa: F401

        kinds.append("safetensors.torch")
    except ImportError:
        pass
    try:
        make_file(path, args.gb)
        size = path.stat().st_size
        print(f"file: {size / 2**30:.2f} GiB, {TENSORS} float32 tensors; medians of {args.repeat}")
        loads = {k: median_of(args.repeat, "load", k, str(path)) for k in kinds}
        report("load_file (lower is better; ratios are reference / paramtool)", loads, "rss_growth")
        saves = {
            k: median_of(args.repeat, "save", k, str(path), str(args.gb))
            for k in ["paramtool", "paramtool sequential", "safetensors.numpy"]
        }
        largest = max(np.prod(s) * 4 for _, s in shapes(args.gb))
        print(f"\nexport of a {args.gb:g} GB model; largest tensor {largest / 2**20:.0f} MiB")
        report("save_file (paramtool streams a deferred model)", saves, "peak_growth")
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        what, kind, target, *rest = sys.argv[2:]
        result = child_load(kind, target) if what == "load" else child_save(kind, target, float(rest[0]))  # fmt: skip
        print(json.dumps(result))
    else:
        main()
